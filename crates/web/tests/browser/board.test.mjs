// The board in a real browser (Debian's Chromium through playwright-core): signing in
// with a token, dragging a card to another column, a stale drag put back, and the
// keyboard's "Move to…" form.
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

/// A scenario of three steps with one conversation in the first; returns their ids.
async function board(name) {
  const { api } = server;
  const scenario = (await api("POST", "/crm/scenario", { name })).id;
  const steps = [];
  for (const step of ["New", "Qualified", "Won"]) {
    steps.push((await api("POST", "/crm/step", { name: step, scenarioId: scenario, prompt: "p" })).id);
  }
  const phone = `+55119${Math.floor(10000000 + Math.random() * 89999999)}`;
  const inbound = await api("POST", "/v1/messages/inbound", { channel: "whatsapp", from: phone, text: "oi" });
  await api("POST", "/crm/step/conversation", { conversationId: inbound.conversationId, stepId: steps[0] });
  return { scenario, steps, conversation: inbound.conversationId };
}

async function signedIn() {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.goto(`${server.base}/ui/scenarios`);
  assert.match(page.url(), /\/ui\/login$/, "signed out, the board leads to the login page");
  await page.fill("#token", server.token);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/ui\/scenarios$/);
  return page;
}

async function stepOf(conversation) {
  const state = await server.api("GET", `/v1/conversations/${conversation}`);
  return state.scenarios.find((s) => s.available)?.stepId;
}

async function drag(page, card, column) {
  const from = await page.locator(`${card} .meta`).boundingBox();
  const to = await page.locator(`${column} .cards`).boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 10, from.y + from.height / 2 + 8, { steps: 4 });
  await page.mouse.move(to.x + to.width / 2, to.y + 10, { steps: 16 });
  await page.mouse.up();
}

test("dragging a card moves the conversation", async () => {
  const { scenario, steps, conversation } = await board("Drag");
  const page = await signedIn();
  await page.goto(`${server.base}/ui/scenarios/${scenario}`);
  const card = `.card[data-conversation-id="${conversation}"]`;
  await page.locator(card).waitFor();
  const reloaded = page.waitForEvent("load");
  await drag(page, card, `#step-${steps[1]}`);
  await reloaded;
  assert.equal(await stepOf(conversation), steps[1]);
  await page.locator(`#step-${steps[1]} ${card}`).waitFor();
  const timeline = await server.api("GET", `/v1/conversations/${conversation}/timeline`);
  const entered = timeline.filter((e) => e.type === "step_entered").at(-1);
  assert.equal(entered.data.cause, "moved");
  assert.match(entered.actor, /^api_token:/);
  await page.close();
});

test("a stale drag is put back and says why", async () => {
  const { scenario, steps, conversation } = await board("Stale");
  const page = await signedIn();
  await page.goto(`${server.base}/ui/scenarios/${scenario}`);
  const card = `.card[data-conversation-id="${conversation}"]`;
  await page.locator(card).waitFor();
  // Someone moves it meanwhile; this page still shows it in New.
  await server.api("POST", "/crm/step/move", { conversationId: conversation, destStepId: steps[2] });
  await drag(page, card, `#step-${steps[1]}`);
  await page.locator("#board-status:not([hidden])").waitFor();
  assert.match(await page.textContent("#board-status"), /no longer in the step/);
  assert.equal(await page.locator(`#step-${steps[0]} ${card}`).count(), 1, "the card is back");
  assert.equal(await stepOf(conversation), steps[2], "nothing moved");
  await page.close();
});

test("the keyboard moves a card with its Move to… form", async () => {
  const { scenario, steps, conversation } = await board("Keys");
  const page = await signedIn();
  await page.goto(`${server.base}/ui/scenarios/${scenario}`);
  const select = `.card[data-conversation-id="${conversation}"] select`;
  await page.focus(select);
  await page.selectOption(select, steps[2]);
  await page.keyboard.press("Tab");
  const reloaded = page.waitForEvent("load");
  await page.keyboard.press("Enter");
  await reloaded;
  assert.equal(await stepOf(conversation), steps[2]);
  await page.close();
});

test("a move made through the API appears on an open board without reload", async () => {
  const { scenario, steps, conversation } = await board("Live");
  const page = await signedIn();
  await page.goto(`${server.base}/ui/scenarios/${scenario}`);
  await page.locator(".board[data-live-ready=true]").waitFor();
  let reloaded = false;
  page.on("load", () => { reloaded = true; });
  await server.api("POST", "/crm/step/move", { conversationId: conversation, destStepId: steps[2] });
  const card = `#step-${steps[2]} .card[data-conversation-id="${conversation}"]`;
  await page.locator(card).waitFor({ timeout: 5000 });
  assert.equal(await page.locator(`#step-${steps[0]} .card`).count(), 0, "gone from New");
  assert.equal(await page.textContent(`#step-${steps[2]} .count`), "1");
  assert.equal(reloaded, false, "no reload");
  await page.close();
});
