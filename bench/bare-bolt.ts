// The floor for the ack benchmark: a bare Bolt app whose only listener acks the slash command.
import bolt from "@slack/bolt";

const { App } = bolt;
const socketMode = Boolean(process.env.SLACK_APP_TOKEN);
const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  ...(socketMode ? { socketMode: true, appToken: process.env.SLACK_APP_TOKEN } : { signingSecret: process.env.SLACK_SIGNING_SECRET ?? "" }),
  clientOptions: { slackApiUrl: process.env.SLACK_API_URL, retryConfig: { retries: 0 } },
  logLevel: bolt.LogLevel.ERROR,
});
app.command("/berth", async ({ ack }) => {
  await ack();
});
if (socketMode) {
  await app.start();
  process.stdout.write(`bare bolt ready port:0\n`);
} else {
  const server = (await app.start({ port: 0, host: "127.0.0.1" })) as import("node:http").Server;
  process.stdout.write(`bare bolt ready port:${(server.address() as import("node:net").AddressInfo).port}\n`);
}
process.on("SIGTERM", () => void app.stop().then(() => process.exit(0)));
