import { parseDuration } from "../core/duration.ts";
import { publicMessage } from "../core/errors.ts";
import type { JobEvent } from "../core/events.ts";
import { type Message, msg, plainText } from "../core/message.ts";
import type { DockerConnection } from "../engines/ports.ts";
import type { CloudHostRecord } from "../store/records.ts";
import { cloudConnection } from "./berth-pki.ts";
import type { Pem } from "./certificates.ts";
import type { ProvisionDeps } from "./provision-deps.ts";

/** Probes Docker over TLS until it answers or the policy's readyTimeout passes; says what it saw either way. */
export async function* waitForDocker(
  record: CloudHostRecord,
  pki: { ca: Pem; client: Pem },
  deps: ProvisionDeps,
  signal: AbortSignal,
): AsyncGenerator<JobEvent, { ok: boolean; what: Message }> {
  const conn = cloudConnection(record, pki) as DockerConnection;
  const engine = deps.connect({ ...conn, timeoutMs: 10_000 });
  const deadline = deps.clock() + (parseDuration(deps.policy().azure.readyTimeout) as number) * 1000;
  let last: Message = ["no answer yet"];
  let said = "";
  try {
    for (;;) {
      try {
        const info = await engine.info(AbortSignal.any([signal, AbortSignal.timeout(10_000)]));
        // The certificate proves the engine is berth's; the OS proves it is this host's (an address reused too soon).
        if (info.osType === record.os) return { ok: true, what: [`${info.osType} ${info.osBuild}, Docker ${info.engineVersion}`] };
        last = [`a ${info.osType} Docker engine answers there, not the ${record.os} host berth made`];
      } catch (error) {
        if (signal.aborted) throw error;
        last = publicMessage(error);
      }
      // Said once per distinct reason, not once per probe.
      if (plainText(last) !== said) {
        said = plainText(last);
        yield { type: "notice", text: msg`Docker on ${conn.url} is not answering yet (cloud-init is installing it): ${last}` };
      }
      if (deps.clock() >= deadline) return { ok: false, what: last };
      await new Promise((resolve) => setTimeout(resolve, deps.settings.probeIntervalMs));
      if (signal.aborted) throw signal.reason;
    }
  } finally {
    engine.close();
  }
}
