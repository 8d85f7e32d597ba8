// The conversation page in a real browser: a message sent from its composer is queued for
// the contact, and a form posted to it from another site is refused.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
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

async function signedIn(context) {
  const page = await context.newPage();
  await page.goto(`${server.base}/ui/login`);
  await page.fill("#token", server.token);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/ui\/scenarios$/);
  return page;
}

async function sessionMessages(conversation) {
  const outbox = await server.api("GET", `/v1/conversations/${conversation}/outbox`);
  return outbox.filter((entry) => entry.kind === "session_message");
}

test("a message sent from the conversation page is queued for the contact", async () => {
  const inbound = await server.api("POST", "/v1/messages/inbound", { channel: "website", from: "visitor-composer", text: "hello?" });
  const context = await browser.newContext();
  const page = await signedIn(context);
  await page.goto(`${server.base}/ui/conversations/${inbound.conversationId}`);
  await page.fill("#text", "Hi! How can we help?");
  await page.click(".composer button[type=submit]");
  await page.locator(".message.outbound", { hasText: "Hi! How can we help?" }).waitFor();
  const queued = await sessionMessages(inbound.conversationId);
  assert.equal(queued.length, 1);
  assert.equal(queued[0].payload.text, "Hi! How can we help?");
  await context.close();
});

test("a form posted from another site is refused", async () => {
  const inbound = await server.api("POST", "/v1/messages/inbound", { channel: "website", from: "visitor-csrf", text: "hi" });
  // Another origin (another port) serving a form that posts to Stagecoach.
  const evil = createServer((_, response) => {
    response.setHeader("content-type", "text/html");
    response.end(`<form method="post" action="${server.base}/ui/conversations/${inbound.conversationId}/messages">
      <input name="text" value="forged"><button id="go" type="submit">Go</button></form>`);
  });
  await new Promise((done) => evil.listen(0, "127.0.0.1", done));
  const context = await browser.newContext();
  await signedIn(context);
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${evil.address().port}/`);
  const answer = page.waitForResponse((r) => r.url().includes("/messages"));
  await page.click("#go");
  assert.equal((await answer).status(), 403);
  assert.match(await page.textContent("main"), /another site/);
  assert.equal((await sessionMessages(inbound.conversationId)).length, 0, "nothing was sent");
  await context.close();
  evil.close();
});

test("older messages load when the reader scrolls up to them, and new ones arrive live", async () => {
  let conversation;
  for (let i = 0; i < 60; i++) {
    const inbound = await server.api("POST", "/v1/messages/inbound", { channel: "website", from: "visitor-scroll", text: `line ${i}` });
    conversation = inbound.conversationId;
  }
  const context = await browser.newContext();
  const page = await signedIn(context);
  await page.goto(`${server.base}/ui/conversations/${conversation}`);
  await page.locator("[data-live-ready=true]").waitFor();
  assert.equal(await page.locator(".message").count(), 50, "the latest, scrolled into view");
  await page.locator("#live-messages").evaluate((list) => { list.scrollTop = 0; });
  await page.waitForFunction(() => document.querySelectorAll(".message").length === 60);
  assert.equal(await page.locator(".message").first().textContent().then((t) => t.startsWith("line 0")), true);
  assert.equal(await page.locator("a.older-messages").count(), 0, "nothing older is left");
  await server.api("POST", "/v1/messages/inbound", { channel: "website", from: "visitor-scroll", text: "a new one" });
  await page.locator(".message", { hasText: "a new one" }).waitFor({ timeout: 5000 });
  assert.equal(await page.locator(".message").count(), 61, "added, the older ones kept");
  await context.close();
});
