// A scenario's report in a real browser: its charts render, and the CSV it offers holds
// exactly the figures of its table.
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

/// RFC 4180 cells of one CSV line.
function cells(line) {
  const out = [""];
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"' && quoted && line[i + 1] === '"') { out[out.length - 1] += '"'; i++; }
    else if (c === '"') quoted = !quoted;
    else if (c === "," && !quoted) out.push("");
    else out[out.length - 1] += c;
  }
  return out;
}

test("a report renders and its CSV matches its table", async () => {
  const { api } = server;
  const scenario = (await api("POST", "/crm/scenario", { name: "Reported" })).id;
  const first = (await api("POST", "/crm/step", { name: "New, first", scenarioId: scenario, prompt: "p" })).id;
  const won = (await api("POST", "/crm/step", { name: "Won", scenarioId: scenario, prompt: "p" })).id;
  for (let i = 0; i < 3; i++) {
    const inbound = await api("POST", "/v1/messages/inbound", { channel: "whatsapp", from: `+551190000${i}111`, text: "oi" });
    await api("POST", "/crm/step/conversation", { conversationId: inbound.conversationId, stepId: first });
    if (i === 0) {
      await api("POST", "/crm/step/move", { conversationId: inbound.conversationId, destStepId: won });
      await api("POST", `/autoupdate/v2/enterprise/${server.org}/lead/${inbound.contactId}/action`, {
        actions: [{ type: "PAYMENT", amount: "99.90", currency: "USD", status: "COMPLETED" }],
      });
    }
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${server.base}/ui/login`);
  await page.fill("#token", server.token);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/ui\/scenarios$/);
  await page.goto(`${server.base}/ui/scenarios/${scenario}/report`);
  assert.equal(await page.locator("figure.chart svg").count(), 3, "funnel, times, revenue in USD");
  assert.ok((await page.locator("svg rect.bar").first().getAttribute("width")) > 0);
  const table = await page.$$eval(".report-table tbody tr", (rows) =>
    rows.map((row) => [...row.querySelectorAll("td")].map((td) => td.dataset.value)));
  const headers = await page.$$eval(".report-table thead th", (ths) => ths.map((th) => th.textContent));
  const href = await page.getAttribute("a[download]", "href");
  const response = await page.request.get(`${server.base}${href}`);
  assert.equal(response.status(), 200);
  const lines = (await response.text()).trim().split("\r\n");
  assert.deepEqual(cells(lines[0]), headers);
  assert.deepEqual(lines.slice(1).map(cells), table);
  assert.equal(table[0][0], "New, first");
  assert.equal(table[0][1], "3", "three entered the first step");
  assert.equal(table[1].at(-1), "99.90", "the payment in Won");
  await page.close();
});
