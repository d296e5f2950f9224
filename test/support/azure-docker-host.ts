/**
 * The far end of a Linux VM berth provisions: what cloud-init and systemd would make of the customData berth sent,
 * reduced to what berth relies on. The drop-in's dockerd command line says where the CA, server certificate and key
 * are and which port to listen on; write_files says what those files contain. The result is a real TLS dockerd (see
 * tls-daemon.ts) on 127.0.0.1 instead of 0.0.0.0: tests only talk to loopback.
 */
import { gunzipSync } from "node:zlib";
import { parse } from "yaml";
import { z } from "zod";
import { startTlsDaemon, type TlsDaemon } from "./tls-daemon.ts";

const cloudConfig = z.object({
  write_files: z.array(
    z.object({
      path: z.string(),
      // yaml parses `!!binary` (how gzip without base64 is written) to a Uint8Array.
      content: z.union([z.string(), z.instanceof(Uint8Array)]).optional(),
      encoding: z.string().optional(),
    }),
  ),
});

/** What a VM would do with berth's customData: start a real TLS dockerd with its certificates, on its port. */
export async function startDockerFromCustomData(customDataBase64: string): Promise<TlsDaemon> {
  const { ca, cert, key, port } = readCloudInit(customDataBase64);
  return startTlsDaemon({ server: { ca, cert, key }, port });
}

/** The CA, server certificate and key the drop-in's dockerd uses, and the port it listens on. */
export function readCloudInit(customDataBase64: string): { ca: string; cert: string; key: string; port: number } {
  const text = Buffer.from(customDataBase64, "base64").toString("utf8");
  if (!text.startsWith("#cloud-config\n")) {
    throw new Error(`customData is not a #cloud-config document; it starts with ${JSON.stringify(text.slice(0, 40))}`);
  }
  const { write_files: files } = cloudConfig.parse(parse(text));
  const contents = new Map(files.map((f) => [f.path, decode(f.path, f.content ?? "", f.encoding)]));
  const dropIns = [...contents].filter(([path]) => /^\/etc\/systemd\/system\/docker\.service\.d\/[^/]+\.conf$/.test(path));
  const execStart = dropIns
    .flatMap(([, content]) => content.split("\n"))
    .filter((line) => line.startsWith("ExecStart=") && line.length > "ExecStart=".length)
    .at(-1);
  if (!execStart) throw new Error("customData writes no docker.service drop-in with an ExecStart command line");
  const option = (name: string) => {
    const found = new RegExp(`${name}[= ](\\S+)`).exec(execStart)?.[1];
    if (!found) throw new Error(`The drop-in's dockerd command line has no ${name}: ${execStart}`);
    return found;
  };
  const file = (path: string) => {
    const content = contents.get(path);
    if (content === undefined) throw new Error(`The drop-in refers to ${path}, which customData does not write`);
    return content;
  };
  if (!/(^| )--tlsverify( |$)/.test(execStart)) throw new Error(`The drop-in's dockerd does not verify clients: ${execStart}`);
  const tcp = /-H[= ]tcp:\/\/[^:\s]+:(\d+)/.exec(execStart)?.[1];
  if (!tcp) throw new Error(`The drop-in's dockerd listens on no TCP port: ${execStart}`);
  return { ca: file(option("--tlscacert")), cert: file(option("--tlscert")), key: file(option("--tlskey")), port: Number(tcp) };
}

/** cloud-init's write_files encodings (cc_write_files.py): plain, base64, gzip, and gzip inside base64. */
function decode(path: string, content: string | Uint8Array, encoding = "text/plain"): string {
  const bytes = (value: string | Uint8Array) => (typeof value === "string" ? Buffer.from(value, "base64") : Buffer.from(value));
  switch (encoding.toLowerCase()) {
    case "text/plain":
      return typeof content === "string" ? content : Buffer.from(content).toString("utf8");
    case "b64":
    case "base64":
      return bytes(content).toString("utf8");
    case "gz":
    case "gzip":
    case "gz+b64":
    case "gz+base64":
    case "gzip+b64":
    case "gzip+base64":
      return gunzipSync(bytes(content)).toString("utf8");
    default:
      throw new Error(`write_files entry ${path} has an encoding cloud-init does not know: ${encoding}`);
  }
}
