import { BerthError } from "../core/errors.ts";
import type { EngineObserver } from "../metrics.ts";
import type { ContainerEngine } from "./ports.ts";

const codeOf = (error: unknown) => (error instanceof BerthError ? error.code : "INTERNAL");

/**
 * A call the caller stopped (Stop, shutdown) is not the engine failing; one that ran out of time is.
 */
const callerGaveUp = (signal: AbortSignal) => signal.aborted && (signal.reason as Error | undefined)?.name !== "TimeoutError";

/**
 * Wraps every method of a ContainerEngine to time it and count its failures. Streams are timed to their first item
 * (how long the engine took to start answering), and an error at any point of a stream is counted.
 */
export function instrumentEngine(engine: ContainerEngine, observe: EngineObserver): ContainerEngine {
  const host = engine.name;
  const failed = (method: string, signal: AbortSignal, error: unknown) => {
    if (!callerGaveUp(signal)) observe.error(host, method, codeOf(error));
  };

  async function call<T>(method: string, signal: AbortSignal, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await run();
    } catch (error) {
      failed(method, signal, error);
      throw error;
    } finally {
      observe.call(host, method, (performance.now() - started) / 1000);
    }
  }

  /**
   * Delegates to the engine's iterator instead of re-yielding from a generator: the streaming path is hot, and after
   * the first item each line only gains a rejection handler.
   */
  function stream<T>(method: string, signal: AbortSignal, open: () => AsyncIterable<T>): AsyncIterable<T> {
    return {
      [Symbol.asyncIterator]() {
        const inner = open()[Symbol.asyncIterator]();
        const started = performance.now();
        let timed = false;
        // A stream that ends (or fails) before its first item is timed to that end.
        const time = () => {
          if (timed) return;
          timed = true;
          observe.call(host, method, (performance.now() - started) / 1000);
        };
        const fail = (error: unknown): never => {
          time();
          failed(method, signal, error);
          throw error;
        };
        return {
          next: () =>
            timed
              ? inner.next().catch(fail)
              : inner.next().then((result) => {
                  time();
                  return result;
                }, fail),
          return: async (value?: unknown) => {
            time();
            return (await inner.return?.(value)) ?? { done: true as const, value: undefined };
          },
        };
      },
    };
  }

  return {
    name: engine.name,
    info: (signal) => call("info", signal, () => engine.info(signal)),
    hasImage: (image, signal) => call("hasImage", signal, () => engine.hasImage(image, signal)),
    imagePlatform: (image, signal) => call("imagePlatform", signal, () => engine.imagePlatform(image, signal)),
    pull: (image, signal, auth) => stream("pull", signal, () => engine.pull(image, signal, auth)),
    run: (spec, signal) => call("run", signal, () => engine.run(spec, signal)),
    list: (options, signal) => call("list", signal, () => engine.list(options, signal)),
    inspect: (container, signal) => call("inspect", signal, () => engine.inspect(container, signal)),
    logs: (query, signal) => stream("logs", signal, () => engine.logs(query, signal)),
    secretValues: (container, signal) => call("secretValues", signal, () => engine.secretValues(container, signal)),
    wait: (container, signal) => call("wait", signal, () => engine.wait(container, signal)),
    stop: (container, signal) => call("stop", signal, () => engine.stop(container, signal)),
    start: (container, signal) => call("start", signal, () => engine.start(container, signal)),
    restart: (container, signal) => call("restart", signal, () => engine.restart(container, signal)),
    remove: (container, options, signal) => call("remove", signal, () => engine.remove(container, options, signal)),
    exec: (container, cmd, signal) =>
      call("exec", signal, async () => {
        const handle = await engine.exec(container, cmd, signal);
        return { lines: stream("exec.lines", signal, () => handle.lines), exitCode: () => handle.exitCode() };
      }),
    stats: (containers, signal) => call("stats", signal, () => engine.stats(containers, signal)),
    top: (container, signal) => call("top", signal, () => engine.top(container, signal)),
    events: (options, signal) => stream("events", signal, () => engine.events(options, signal)),
    pastEvents: (window, signal) => call("pastEvents", signal, () => engine.pastEvents(window, signal)),
    services: (signal) => call("services", signal, () => engine.services(signal)),
    serviceTasks: (service, signal) => call("serviceTasks", signal, () => engine.serviceTasks(service, signal)),
    serviceLogs: (query, signal) => stream("serviceLogs", signal, () => engine.serviceLogs(query, signal)),
    serviceSecretValues: (service, signal) => call("serviceSecretValues", signal, () => engine.serviceSecretValues(service, signal)),
    updateService: (service, change, signal) => call("updateService", signal, () => engine.updateService(service, change, signal)),
    previousServiceImage: (service, signal) => call("previousServiceImage", signal, () => engine.previousServiceImage(service, signal)),
    watchService: (service, signal) => stream("watchService", signal, () => engine.watchService(service, signal)),
    close: () => engine.close(),
  };
}
