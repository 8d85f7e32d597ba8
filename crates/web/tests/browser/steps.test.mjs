// The step editor and sign-in links in a real browser: a member signs in with a link
// from `stagecoach login-link`, a step saved with a bad field shows the server's message
// beside it, and a preview of an entry changes nothing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, startServer } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function signedIn() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${server.base}/ui/login`);
  await page.fill("#token", server.token);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/ui\/scenarios$/);
  return page;
}

test("a sign-in link opens a session as the member, once", async () => {
  const email = `ana${Date.now()}@example.com`;
  const member = server.cli(["member", "add", "--org", server.org, "--email", email, "--name", "Ana Link"]);
  const link = server.cli([
    "login-link", "--org", server.org, "--member", member, "--base-url", server.base,
  ]);
  const scenario = (await server.api("POST", "/crm/scenario", { name: "Linked" })).id;
  const first = (await server.api("POST", "/crm/step", { name: "First", scenarioId: scenario, prompt: "p" })).id;
  const second = (await server.api("POST", "/crm/step", { name: "Second", scenarioId: scenario, prompt: "p" })).id;
  const inbound = await server.api("POST", "/v1/messages/inbound", { channel: "whatsapp", from: "+5511912340000", text: "oi" });
  await server.api("POST", "/crm/step/conversation", { conversationId: inbound.conversationId, stepId: first });

  const page = await browser.newPage();
  await page.goto(link);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/ui\/scenarios$/);
  await page.goto(`${server.base}/ui/scenarios/${scenario}`);
  const select = `.card[data-conversation-id="${inbound.conversationId}"] select`;
  await page.selectOption(select, second);
  const reloaded = page.waitForEvent("load");
  await page.click(`.card[data-conversation-id="${inbound.conversationId}"] button[type=submit]`);
  await reloaded;
  const timeline = await server.api("GET", `/v1/conversations/${inbound.conversationId}/timeline`);
  const entered = timeline.filter((e) => e.type === "step_entered").at(-1);
  assert.equal(entered.actor, `member:${member}`, "the timeline names the member");

  // The link is spent: another browser cannot use it.
  const other = await browser.newContext();
  const again = await other.newPage();
  await again.goto(link);
  await again.click("button[type=submit]");
  assert.match(await again.textContent("[role=alert]"), /used already/);
  await other.close();
  await page.close();
});

test("a step saved with a bad field shows the message beside it", async () => {
  const scenario = (await server.api("POST", "/crm/scenario", { name: "Editor" })).id;
  const page = await signedIn();
  await page.goto(`${server.base}/ui/scenarios/${scenario}/steps/new`);
  await page.fill("#name", "Qualify");
  await page.fill("#prompt", "Qualify the lead");
  await page.fill("#webhookUrl", "ftp://files.example.com/hook");
  await page.click("form.step-form button[type=submit]");
  const error = page.locator("#webhookUrl-error");
  await error.waitFor();
  assert.match(await error.textContent(), /http/);
  // Beside the field: in the same field block, right under its input.
  const block = page.locator(".field.invalid", { has: page.locator("#webhookUrl") });
  assert.equal(await block.locator("#webhookUrl-error").count(), 1);
  assert.equal(await page.inputValue("#name"), "Qualify", "what was typed is kept");
  assert.equal((await server.api("GET", `/crm/step?scenarioId=${scenario}`)).length, 0, "nothing saved");

  await page.fill("#webhookUrl", "https://hooks.example.com/qualify");
  await page.click("form.step-form button[type=submit]");
  await page.waitForURL(/\/steps$/);
  const steps = await server.api("GET", `/crm/step?scenarioId=${scenario}`);
  assert.equal(steps[0].webhookUrl, "https://hooks.example.com/qualify");
  await page.close();
});

test("a preview shows what an entry would do and changes nothing", async () => {
  const scenario = (await server.api("POST", "/crm/scenario", { name: "Preview" })).id;
  const start = (await server.api("POST", "/crm/step", { name: "Start", scenarioId: scenario, prompt: "p" })).id;
  const hot = (await server.api("POST", "/crm/step", {
    name: "Hot", scenarioId: scenario, prompt: "p", defaultPriority: "HIGH", defaultTags: ["hot"],
  })).id;
  const inbound = await server.api("POST", "/v1/messages/inbound", { channel: "whatsapp", from: "+5511912349999", text: "oi" });
  await server.api("POST", "/crm/step/conversation", { conversationId: inbound.conversationId, stepId: start });
  const before = await server.api("GET", `/v1/conversations/${inbound.conversationId}`);

  const page = await signedIn();
  await page.goto(`${server.base}/ui/steps/${hot}`);
  await page.selectOption("#preview-conversation", inbound.conversationId);
  await page.click("form.preview-form button[type=submit]");
  await page.waitForURL(/\/preview\?/);
  const said = await page.textContent(".preview");
  assert.match(said, /Priority changes from MEDIUM to HIGH/);
  assert.match(said, /Tags added: hot/);
  const after = await server.api("GET", `/v1/conversations/${inbound.conversationId}`);
  assert.deepEqual(after, before, "the preview wrote nothing");
  await page.close();
});
