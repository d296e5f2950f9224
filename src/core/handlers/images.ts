import type { ActionOf } from "../action.ts";
import { code, msg, strong } from "../message.ts";
import { pullImage } from "../pull-job.ts";
import { registryOf } from "../registries.ts";
import { engineJob } from "./execution.ts";
import type { Handler } from "./handler.ts";

const pullSummary = (a: ActionOf<"image.pull">, host: string | undefined) => `pull ${a.image} on ${host ?? "?"}`;

export const pull: Handler<"image.pull"> = {
  runs: "job",
  summary: pullSummary,
  preview: (a) => [msg`${strong("Image:")} ${code(a.image)}`, msg`${strong("Registry:")} ${code(registryOf(a.image))}`],
  execute: engineJob(pullImage, pullSummary),
  // What a tag named before the pull is not known afterwards.
  inverse: undefined,
};
