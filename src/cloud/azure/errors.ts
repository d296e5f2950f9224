/**
 * Azure's failures in berth's words: a RestError (refused request), core-lro's plain Error (a failed operation), an
 * @azure/identity error or a network error becomes one BerthError whose code says what kind of trouble it is and whose
 * message says what Azure said and what to do next. Aborts pass through untouched.
 */
import { BerthError, type ErrorCode } from "../../core/errors.ts";
import type { ResourceKind } from "../ports.ts";

export type Verb = "create" | "delete" | "read";

const kindLabels: Record<ResourceKind, string> = {
  network: "virtual network",
  nsg: "network security group",
  ip: "public IP",
  nic: "network interface",
  vm: "virtual machine",
  extension: "setup extension",
};

/** The value of a GET, or undefined when ARM answers 404. */
export async function getOrUndefined<T>(get: () => Promise<T>): Promise<T | undefined> {
  try {
    return await get();
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

type Failure = { status: number | undefined; code: string; message: string; retryAfter: string | undefined };

export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

const credentialErrors = new Set([
  "CredentialUnavailableError",
  "AggregateAuthenticationError",
  "AuthenticationError",
  "AuthenticationRequiredError",
]);
const capacityCodes = new Set([
  "SkuNotAvailable",
  "AllocationFailed",
  "ZonalAllocationFailed",
  "OverconstrainedAllocationRequest",
  "OverconstrainedZonalAllocationRequest",
]);
const quotaCodes = new Set([
  "QuotaExceeded",
  "ResourceQuotaExceeded",
  "PublicIPCountLimitReached",
  "ResourceCountExceeded",
  "SubscriptionRequestsThrottled",
]);
const conflictCodes = new Set([
  "Conflict",
  "AnotherOperationInProgress",
  "OperationNotAllowed",
  "NicInUse",
  "PublicIPAddressInUse",
  "InUseNetworkSecurityGroupCannotBeDeleted",
  "InUseSubnetCannotBeDeleted",
  "ResourceGroupBeingDeleted",
  "PropertyChangeNotAllowed",
]);
const configCodes = new Set([
  "MissingSubscriptionRegistration",
  "SubscriptionNotFound",
  "InvalidSubscriptionId",
  "ResourceGroupNotFound",
  "AuthenticationFailed",
  "InvalidAuthenticationToken",
  "InvalidAuthenticationTokenAudience",
  "ExpiredAuthenticationToken",
]);

/** What Azure said, from a RestError (sync) or core-lro's plain Error for a failed operation (async). */
function failureOf(error: Error): Failure | undefined {
  const status = statusOf(error);
  const code = (error as { code?: unknown }).code;
  if (status !== undefined || typeof code === "string") {
    const headers = (error as { response?: { headers?: { get(name: string): string | undefined } } }).response?.headers;
    const retryAfterMs = headers?.get("retry-after-ms") ?? headers?.get("x-ms-retry-after-ms");
    const retryAfter = headers?.get("retry-after") ?? (retryAfterMs ? String(Number(retryAfterMs) / 1000) : undefined);
    return { status, code: typeof code === "string" ? code : `HTTP${status ?? ""}`, message: error.message, retryAfter };
  }
  const failed = /^The long-running operation has failed\. ([^.\s]+)\. ?([\s\S]*)$/.exec(error.message);
  if (failed) return { status: undefined, code: failed[1] ?? "Failed", message: failed[2] ?? "", retryAfter: undefined };
  if (error.message === "Operation was canceled") {
    return { status: undefined, code: "Canceled", message: "Azure canceled the operation", retryAfter: undefined };
  }
  return undefined;
}

function classify(f: Failure): { code: ErrorCode; advice: string } {
  const { status, code, message } = f;
  if (status === 429 || code === "TooManyRequests" || code === "RetryableErrorDueToAnotherOperation") {
    const wait = f.retryAfter ? `Azure asked to wait ${f.retryAfter} s (Retry-After) and` : "Azure asked berth to slow down and";
    return { code: "THROTTLED", advice: `${wait} berth's retries ran out: try again in a few minutes` };
  }
  if (status === 403 || code === "AuthorizationFailed" || code === "LinkedAuthorizationFailed") {
    const action = /perform action '([^']+)'/.exec(message)?.[1];
    return {
      code: "FORBIDDEN",
      advice: `berth's Azure identity lacks ${action ? `the permission '${action}'` : "a permission"}: assign it the role in manifests/azure-role.json on the resource group`,
    };
  }
  if (capacityCodes.has(code)) {
    return { code: "CAPACITY", advice: "Azure has no capacity for this size there now: try another size or region" };
  }
  if (quotaCodes.has(code) || (code === "OperationNotAllowed" && /quota/i.test(message))) {
    return {
      code: "QUOTA",
      advice:
        "the subscription's quota would be exceeded: ask for more quota in the Azure portal (Quotas), use a smaller size, or remove unused hosts",
    };
  }
  if (configCodes.has(code) || status === 401) {
    return { code: "CONFIG", advice: "check berth's Azure configuration (AZURE_SUBSCRIPTION_ID, resource group, credential)" };
  }
  if (conflictCodes.has(code) || status === 409) {
    return { code: "CONFLICT", advice: "the resource is busy or still in use: wait for the other operation to finish, then try again" };
  }
  if (code === "OSProvisioningTimedOut")
    return { code: "TIMEOUT", advice: "the VM did not report ready in time: remove the host and try again" };
  if (status === undefined && code === "Canceled") return { code: "CANCELLED", advice: "try again if it was not meant" };
  if (status !== undefined && status >= 400 && status < 500 && status !== 408) {
    return {
      code: status === 404 ? "NOT_FOUND" : "INVALID",
      advice: "Azure refused the request as berth sent it: check the size, region and image, or report it to berth's operator",
    };
  }
  return { code: "UNAVAILABLE", advice: "Azure failed on its side: try again in a few minutes" };
}

const sentence = (text: string) => text.trim().replace(/[.\s]+$/, "");

export function toBerthError(
  error: unknown,
  verb: Verb,
  kind: ResourceKind | "group" | "sizes",
  name: string,
  signal: AbortSignal,
): unknown {
  if (error instanceof BerthError) return error;
  if (error instanceof Error && (error.name === "AbortError" || signal.aborted)) return error;
  if (!(error instanceof Error)) return new BerthError("INTERNAL", `Azure: unexpected failure: ${String(error)}`, { cause: error });
  const what =
    kind === "group"
      ? `Azure could not ${verb} berth's resource group ${name}`
      : kind === "sizes"
        ? `Azure could not list the VM sizes of ${name}`
        : `Azure could not ${verb} the ${kindLabels[kind]} of ${name}`;
  if (credentialErrors.has(error.name)) {
    return new BerthError(
      "CONFIG",
      `${what}: berth has no usable Azure credential (${error.name}: ${sentence(error.message).slice(0, 300)}). Set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH), give berth a managed identity, or run \`az login\` as berth's user.`,
      { cause: error },
    );
  }
  const failure = failureOf(error);
  if (!failure) {
    const network = (error as { code?: unknown }).code;
    return new BerthError(
      "UNAVAILABLE",
      `${what}: ${sentence(error.message)}${typeof network === "string" ? ` (${network})` : ""}. Check that berth can reach Azure Resource Manager, then try again.`,
      { cause: error },
    );
  }
  const { code, advice } = classify(failure);
  return new BerthError(code, `${what}: ${failure.code}: ${sentence(failure.message)}. ${advice[0]?.toUpperCase()}${advice.slice(1)}.`, {
    cause: error,
  });
}
