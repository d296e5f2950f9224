/**
 * Pulls from a private registry through the real Docker engine: the login berth hands the adapter goes out as
 * X-Registry-Auth, the engine logs in to the registry with it (the fake sees HTTP Basic) and pulls the image; without
 * it, or with a wrong one, the engine relays the registry's 401 and berth names the registry and what to do.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { BerthError } from "../../src/core/errors.ts";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import type { PullProgress } from "../../src/engines/ports.ts";
import { fails } from "../support/fails.ts";
import { type RegistryFake, startRegistryFake } from "../support/registry-fake.ts";
import { testInstallation } from "../support/run-spec.ts";

const execFileAsync = promisify(execFile);
const engine = createDockerEngine({ installation: testInstallation, name: "local", url: "unix:///var/run/docker.sock", timeoutMs: 10_000 });
const never = new AbortController().signal;
const password = "s3cret-registry-pa55word";

async function collect(it: AsyncIterable<PullProgress>): Promise<PullProgress[]> {
  const out: PullProgress[] = [];
  for await (const p of it) out.push(p);
  return out;
}

describe("pulls from a private registry (real engine, fake registry)", () => {
  let registry: RegistryFake;
  before(async () => {
    registry = await startRegistryFake({ username: "robot", password });
  });
  after(async () => {
    // Only the tag this test made: the image itself is berth-test/busybox:1's, which stays.
    await execFileAsync("docker", ["image", "rm", registry.image]).catch(() => undefined);
    await registry.close();
    engine.close();
  });

  it("sends the login as X-Registry-Auth: the engine logs in with it and pulls the image", async () => {
    const auth = { username: "robot", password, serveraddress: registry.server };
    const steps = await collect(engine.pull(registry.image, never, auth));
    assert.ok(
      steps.some((s) => /^Status: (Downloaded newer image|Image is up to date) for /.test(s.status)),
      JSON.stringify(steps),
    );
    assert.equal(await engine.hasImage(registry.image, never), true);
    const basic = `Basic ${Buffer.from(`robot:${password}`).toString("base64")}`;
    assert.ok(registry.authorizations.includes(basic), "the engine sent the login to the registry");
  });

  it("without a login: the registry's refusal names the registry and says to add it to registries:", async () => {
    const before = registry.authorizations.length;
    await assert.rejects(collect(engine.pull(registry.image, never)), (e: unknown) => {
      assert.ok(e instanceof BerthError);
      assert.equal(e.code, "FORBIDDEN");
      assert.match(
        e.message,
        new RegExp(
          `^Registry ${registry.server} refused to let berth pull ${registry.image} on host local: .*(unauthorized|no basic auth credentials|authentication required).*add a login for ${registry.server} to registries: in the hosts manifest\\.$`,
        ),
      );
      return true;
    });
    assert.ok(
      registry.authorizations.slice(before).every((a) => a === undefined),
      "no credentials were sent",
    );
  });

  it("with a wrong secret: the refusal names the registry and says to check the login; the secret is not in it", async () => {
    const auth = { username: "robot", password: "wrong-pa55word-xyz", serveraddress: registry.server };
    await assert.rejects(collect(engine.pull(registry.image, never, auth)), (e: unknown) => {
      assert.ok(e instanceof BerthError);
      assert.equal(e.code, "FORBIDDEN");
      assert.match(
        e.message,
        new RegExp(`^Registry ${registry.server} refused berth's login when pulling ${registry.image} on host local: `),
      );
      assert.match(e.message, /check that login in registries: of the hosts manifest/);
      assert.doesNotMatch(`${e.message} ${JSON.stringify(e.cause)}`, /wrong-pa55word-xyz/);
      return true;
    });
  });

  it("a registry that does not resolve is named as unreachable", async () => {
    await assert.rejects(
      collect(engine.pull("registry.invalid/team/app:1", never)),
      fails(
        "UNAVAILABLE",
        /^Could not pull image registry\.invalid\/team\/app:1 on host local: registry registry\.invalid cannot be reached from there \(.+\)\. /,
      ),
    );
  });
});
