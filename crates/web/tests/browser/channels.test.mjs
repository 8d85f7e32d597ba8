// A WhatsApp number connected from the settings page, and a template sent from the
// conversation page outside the 24-hour window, all the way to a stand-in Cloud API
// (a local server speaking Meta's format, which the server is configured to call).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { launchBrowser, startServer } from "./harness.mjs";

let meta;
let server;
let browser;
/// Every request the stand-in Cloud API received: method, path and JSON body.
const received = [];

function standInCloudApi() {
  return createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      const url = new URL(request.url, "http://meta");
      received.push({ method: request.method, path: url.pathname, auth: request.headers.authorization, body: body ? JSON.parse(body) : null });
      response.setHeader("content-type", "application/json");
      if (request.method === "GET" && url.pathname === "/v21.0/WABA-B/message_templates") {
        response.end(JSON.stringify({
          data: [{
            id: "77", name: "order_update", language: "pt_BR", status: "APPROVED", category: "UTILITY",
            components: [{ type: "BODY", text: "Oi {{1}}, o pedido {{2}} saiu." }],
          }],
        }));
      } else if (request.method === "POST" && url.pathname === "/v21.0/PN-B/messages") {
        response.end(JSON.stringify({ messaging_product: "whatsapp", messages: [{ id: "wamid.B1" }] }));
      } else {
        response.statusCode = 404;
        response.end(JSON.stringify({ error: { message: "unknown path", code: 100 } }));
      }
    });
  });
}

before(async () => {
  meta = standInCloudApi();
  await new Promise((done) => meta.listen(0, "127.0.0.1", done));
  server = await startServer({
    env: {
      STAGECOACH_WHATSAPP_API_URL: `http://127.0.0.1:${meta.address().port}/v21.0`,
      STAGECOACH_OUTBOUND_ALLOW_CIDRS: "127.0.0.1/32",
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  meta?.close();
});

async function signedIn(context) {
  const page = await context.newPage();
  await page.goto(`${server.base}/ui/login`);
  await page.fill("#token", server.token);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/ui\/scenarios$/);
  return page;
}

test("a number connected in settings sends a template from the conversation page", async () => {
  const context = await browser.newContext();
  const page = await signedIn(context);
  await page.goto(`${server.base}/ui/settings`);
  await page.click("text=Connect a WhatsApp Cloud API number");
  const form = page.locator("details.connect", { hasText: "WhatsApp Cloud API" });
  await form.getByLabel("Name").fill("Sales line");
  await form.getByLabel("Phone number id").fill("PN-B");
  await form.getByLabel("Business account id (WABA)").fill("WABA-B");
  await form.getByLabel("Access token").fill("meta-token");
  await form.getByLabel("App secret").fill("app-secret");
  await form.getByRole("button", { name: "Connect" }).click();
  await page.locator("text=The channel is connected").waitFor();
  assert.match(await page.locator("#new-inbound-token").innerText(), /^[A-Za-z0-9]{20,}$/);

  // The contact last wrote two days ago: the window is closed.
  const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000).toISOString();
  const inbound = await server.api("POST", "/v1/messages/inbound", {
    channel: "whatsapp", from: "+55 11 94444-0202", text: "oi", timestamp: twoDaysAgo,
  });
  await page.goto(`${server.base}/ui/conversations/${inbound.conversationId}`);
  assert.equal(await page.locator("#text").count(), 0, "no free-text composer");
  await page.click("summary:has-text('order_update')");
  const template = page.locator("details.template", { hasText: "order_update" });
  await template.getByLabel("{{1}}").fill("Ana");
  await template.getByLabel("{{2}}").fill("#42");
  await template.getByRole("button", { name: "Send order_update" }).click();
  await page.locator(".message.outbound", { hasText: "Oi Ana, o pedido #42 saiu." }).waitFor();

  // The worker sends it to the Cloud API as a template with its two parameters.
  let sent;
  for (let i = 0; i < 100 && !sent; i++) {
    sent = received.find((r) => r.method === "POST" && r.path === "/v21.0/PN-B/messages");
    if (!sent) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(sent, `no send reached the Cloud API: ${JSON.stringify(received)}`);
  assert.equal(sent.auth, "Bearer meta-token");
  assert.equal(sent.body.type, "template");
  assert.equal(sent.body.template.name, "order_update");
  assert.deepEqual(
    sent.body.template.components[0].parameters.map((p) => p.text),
    ["Ana", "#42"],
  );
  assert.equal(sent.body.to, "5511944440202");
  await context.close();
});
