// The seed's Next.js AuthProvider calls, made with @ory/client from npm against Quartet's
// identity role behind a `/.ory` rewrite like the seed's next.config.ts
// (`/.ory/:path*` -> the Kratos public URL). Run by tests/compat/test_ory_client_npm.py.
//
// Env: KRATOS_PUBLIC (the public listener), PROXY_PORT (the port this script's rewrite proxy
// listens on; Quartet's serve.public.base_url is http://127.0.0.1:PROXY_PORT/.ory/),
// IDENTIFIER and PASSWORD of an existing identity.
// Prints one JSON line per HTTP exchange ({"exchange": {...}}) for OpenAPI validation and a final
// {"ok": true, ...} line; any failed assertion exits non-zero with the reason on stderr.
"use strict";

const assert = require("node:assert/strict");
const http = require("node:http");
const { Configuration, FrontendApi } = require("@ory/client");

const upstream = new URL(process.env.KRATOS_PUBLIC);
const proxyPort = Number(process.env.PROXY_PORT);
const identifier = process.env.IDENTIFIER;
const password = process.env.PASSWORD;
const basePath = `http://127.0.0.1:${proxyPort}/.ory`;

// next.config.ts rewrites(): /.ory/:path* -> KRATOS_URL/:path* (headers and body untouched).
function startRewriteProxy() {
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith("/.ory/")) {
      res.writeHead(404).end("not rewritten");
      return;
    }
    const upstreamReq = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url.slice("/.ory".length),
        headers: { ...req.headers, host: `127.0.0.1:${proxyPort}` },
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on("error", (e) => res.writeHead(502).end(String(e)));
    req.pipe(upstreamReq);
  });
  return new Promise((resolve) => server.listen(proxyPort, "127.0.0.1", () => resolve(server)));
}

// The seed's client, verbatim apart from the absolute origin (Node has no page origin).
const kratosClient = new FrontendApi(
  new Configuration({ basePath, baseOptions: { withCredentials: true } }),
);

function record(response) {
  const url = new URL(response.config.url);
  console.log(
    JSON.stringify({
      exchange: {
        method: response.config.method.toUpperCase(),
        path: url.pathname.replace(/^\/\.ory/, ""),
        status: response.status,
        body: response.data === "" ? null : response.data,
        headers: response.headers,
      },
    }),
  );
}

// Every response (also errors) is recorded; statuses >= 400 still reject.
async function call(promise) {
  try {
    const response = await promise;
    record(response);
    return response;
  } catch (e) {
    if (e.response) {
      record(e.response);
    }
    throw e;
  }
}

async function expectStatus(promise, status) {
  try {
    await call(promise);
  } catch (e) {
    assert.ok(e.response, `expected HTTP ${status}, got ${e}`);
    assert.equal(e.response.status, status);
    return e.response;
  }
  assert.fail(`expected HTTP ${status}, got a success`);
}

// `name=value` pairs of the Set-Cookie headers of an axios response.
function cookies(response) {
  const set = response.headers["set-cookie"] || [];
  return set.map((c) => c.split(";")[0]);
}

function jar(existing, response) {
  const map = new Map(existing.map((c) => [c.split("=")[0], c]));
  for (const c of cookies(response)) {
    map.set(c.split("=")[0], c);
  }
  return [...map.values()].filter((c) => !c.endsWith("="));
}

function checkSession(session) {
  assert.equal(typeof session.id, "string");
  assert.equal(session.active, true);
  assert.equal(session.identity.traits.email, identifier);
  assert.equal(typeof session.identity.id, "string");
  assert.ok(!("credentials" in session.identity), "public identity has no credentials");
  assert.ok(!("metadata_admin" in session.identity), "public identity has no metadata_admin");
  assert.equal(session.authenticator_assurance_level, "aal1");
  assert.equal(session.authentication_methods[0].method, "password");
  assert.ok(Date.parse(session.expires_at) > Date.now());
  assert.ok(Array.isArray(session.devices));
  assert.ok(
    session.identity.schema_url.startsWith(`${basePath}/schemas/`),
    `schema_url under the configured base URL: ${session.identity.schema_url}`,
  );
}

async function main() {
  const server = await startRewriteProxy();
  try {
    // 1. Native (api) login, then toSession by X-Session-Token.
    const { data: apiFlow } = await call(kratosClient.createNativeLoginFlow());
    assert.equal(apiFlow.type, "api");
    assert.ok(apiFlow.ui.action.startsWith(`${basePath}/self-service/login?flow=`));
    const { data: login } = await call(
      kratosClient.updateLoginFlow({
        flow: apiFlow.id,
        updateLoginFlowBody: { method: "password", identifier, password },
      }),
    );
    assert.match(login.session_token, /^ory_st_/);
    checkSession(login.session);
    const byToken = await call(kratosClient.toSession({ xSessionToken: login.session_token }));
    checkSession(byToken.data);
    assert.equal(byToken.headers["x-kratos-authenticated-identity-id"], login.session.identity.id);

    // 2. Browser (SPA) login: CSRF cookie + csrf_token node, then the session cookie.
    const browserInit = await call(kratosClient.createBrowserLoginFlow());
    let browser = jar([], browserInit);
    assert.ok(browser.some((c) => c.startsWith("csrf_token_")), "CSRF cookie set");
    const csrf = browserInit.data.ui.nodes.find((n) => n.attributes.name === "csrf_token");
    assert.ok(csrf && csrf.attributes.value, "csrf_token node");
    const browserLogin = await call(
      kratosClient.updateLoginFlow({
        flow: browserInit.data.id,
        updateLoginFlowBody: {
          method: "password",
          identifier,
          password,
          csrf_token: csrf.attributes.value,
        },
        cookie: browser.join("; "),
      }),
    );
    assert.ok(!("session_token" in browserLogin.data), "no token for browser flows");
    browser = jar(browser, browserLogin);
    assert.ok(browser.some((c) => c.startsWith("ory_kratos_session=")), "session cookie set");
    const cookie = browser.join("; ");

    // 3. AuthProvider: toSession() with the cookie.
    const byCookie = await call(kratosClient.toSession({ cookie }));
    checkSession(byCookie.data);
    assert.equal(byCookie.data.id, browserLogin.data.session.id);

    // 4. AuthProvider.logout(): createBrowserLogoutFlow(), then the browser visits logout_url.
    const { data: logout } = await call(kratosClient.createBrowserLogoutFlow({ cookie }));
    assert.match(logout.logout_token, /^ory_lo_/);
    const logoutUrl = new URL(logout.logout_url);
    assert.equal(`${logoutUrl.origin}${logoutUrl.pathname}`, `${basePath}/self-service/logout`);
    assert.equal(logoutUrl.searchParams.get("token"), logout.logout_token);
    const visited = await fetch(logout.logout_url, { headers: { cookie }, redirect: "manual" });
    assert.equal(visited.status, 303);
    assert.ok(
      (visited.headers.get("set-cookie") || "").includes("ory_kratos_session=;"),
      "logout clears the session cookie",
    );

    // 5. Signed out: toSession and createBrowserLogoutFlow answer 401; the token session lives on.
    await expectStatus(kratosClient.toSession({ cookie }), 401);
    await expectStatus(kratosClient.toSession(), 401);
    await expectStatus(kratosClient.createBrowserLogoutFlow(), 401);
    checkSession((await call(kratosClient.toSession({ xSessionToken: login.session_token }))).data);

    console.log(JSON.stringify({ ok: true, identity: login.session.identity.id }));
  } finally {
    server.close();
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  if (e && e.response) {
    console.error(`HTTP ${e.response.status}: ${JSON.stringify(e.response.data)}`);
  }
  process.exit(1);
});
