// Grantkeeper's window. It shows metadata and asks the Rust side for actions; it never sees a
// token or a stored secret (the commands don't return any).
"use strict";

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;
const $ = (id) => document.getElementById(id);

const CLOUDFLARE = {
  authorize_url: "https://dash.cloudflare.com/oauth2/auth",
  token_url: "https://dash.cloudflare.com/oauth2/token",
  revoke_url: "https://dash.cloudflare.com/oauth2/revoke",
  userinfo_url: "https://dash.cloudflare.com/oauth2/userinfo",
  api_base: "https://api.cloudflare.com/client/v4",
};
const ENDPOINT_FIELDS = {
  authorize_url: "client-authorize-url",
  token_url: "client-token-url",
  revoke_url: "client-revoke-url",
  userinfo_url: "client-userinfo-url",
  api_base: "client-api-base",
};

let clients = [];
let grants = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function showBanner(message, kind = "error") {
  const b = $("banner");
  b.textContent = message;
  b.className = kind === "error" ? "banner" : "banner info";
  b.hidden = false;
  clearTimeout(showBanner.timer);
  showBanner.timer = setTimeout(() => (b.hidden = true), kind === "error" ? 15000 : 5000);
}

async function call(command, args) {
  try {
    return await invoke(command, args);
  } catch (e) {
    showBanner(e && e.message ? e.message : String(e));
    throw e;
  }
}

function formatCountdown(expiresAt) {
  if (!expiresAt) return "no expiry given";
  const ms = new Date(expiresAt) - Date.now();
  if (ms <= 0) return "expired";
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return `expires in ${h > 0 ? `${h}:${pad(m)}` : m}:${pad(sec)}`;
}

function when(t) {
  return t ? new Date(t).toLocaleString() : "never";
}

function renderGrants() {
  const list = $("grants");
  list.replaceChildren();
  $("grants-empty").hidden = grants.length > 0;
  for (const g of grants) {
    const scopes = el("ul", { class: "scopes" });
    for (const s of g.granted_scopes) scopes.append(el("li", { class: "scope" }, s));
    for (const s of g.missing_scopes) scopes.append(el("li", { class: "scope missing", title: "requested but not granted" }, s));
    const countdown = el("span", { class: "countdown", "data-expires": g.access_expires_at || "" }, formatCountdown(g.access_expires_at));
    list.append(
      el("li", { class: "grant", "data-grant": g.id },
        el("div", { class: "row" },
          el("span", { class: "identity" }, g.identity),
          el("span", { class: `state ${g.state}` }, g.state_label)),
        el("div", { class: "meta" }, `${g.client_name} · access token `, countdown),
        scopes,
        g.missing_scopes.length ? el("div", { class: "meta" }, `Not granted: ${g.missing_scopes.join(", ")}`) : "",
        el("div", { class: "meta" }, `Obtained ${when(g.obtained_at)} · refreshed ${when(g.refreshed_at)} · last used ${when(g.last_used_at)}`),
        el("div", { class: "buttons" },
          el("button", { class: "primary copy", onclick: () => copyToken(g.id) }, "Copy token"),
          el("button", { class: "danger revoke", onclick: () => revoke(g) }, "Revoke"))));
  }
}

function renderClients() {
  const list = $("clients");
  list.replaceChildren();
  $("clients-empty").hidden = clients.length > 0;
  for (const c of clients) {
    const secret = c.auth_method === "none" ? "public client (PKCE)" : `secret stored ${when(c.secret_stored_at)}`;
    list.append(
      el("li", { class: "client", "data-client": c.id },
        el("div", { class: "row" }, el("span", { class: "identity" }, c.name), el("span", { class: "meta" }, c.client_id)),
        el("div", { class: "meta" }, `${c.scopes.join(" ")} · ${secret}`),
        el("div", { class: "buttons" },
          el("button", { class: "primary login", onclick: () => login(c) }, `Log in with ${c.name}`),
          el("button", { class: "edit", onclick: () => edit(c) }, "Edit"),
          el("button", { class: "danger remove", onclick: () => removeClient(c) }, "Remove"))));
  }
}

// Re-render only what changed: change events arrive in bursts (our own writes, other
// processes), and a list rebuilt under the user's pointer loses focus and selection.
let shown = { clients: null, grants: null };

async function refresh() {
  try {
    clients = await invoke("list_clients");
    const key = JSON.stringify(clients);
    if (key !== shown.clients) {
      shown.clients = key;
      renderClients();
    }
  } catch (e) {
    showBanner(e.message || String(e));
  }
  try {
    const view = await invoke("list_grants");
    grants = view.grants;
    const key = JSON.stringify(grants);
    if (key !== shown.grants) {
      shown.grants = key;
      renderGrants();
    }
    if (view.keychain_locked) showBanner("The keychain is locked: unlock it to copy tokens or log in.");
  } catch (e) {
    showBanner(e.message || String(e));
  }
}

async function login(c) {
  await call("start_login", { client: c.id });
  showBanner(`Your browser shows the consent page for ${c.name}.`, "info");
}

async function copyToken(id) {
  await call("copy_token", { grant: id });
  showBanner("A fresh access token is on the clipboard.", "info");
}

async function revoke(g) {
  if (!confirm(`Revoke the grant of ${g.identity} for ${g.client_name}?`)) return;
  const outcome = await call("revoke_grant", { grant: g.id });
  showBanner(`Grant revoked. ${outcome}`, "info");
}

async function removeClient(c) {
  if (!confirm(`Remove the client ${c.name}? Its secret is deleted from the keychain.`)) return;
  await call("remove_client", { id: c.id });
}

function setEndpoints(e) {
  for (const [k, id] of Object.entries(ENDPOINT_FIELDS)) $(id).value = (e && e[k]) || "";
}

function resetForm() {
  $("client-form").reset();
  $("client-local-id").value = "";
  setEndpoints(CLOUDFLARE);
  $("form-title").textContent = "Add a client";
  $("client-cancel").hidden = true;
  updateSecretRow();
}

function edit(c) {
  $("client-local-id").value = c.id;
  $("client-name").value = c.name;
  $("client-id").value = c.client_id;
  $("client-auth").value = c.auth_method;
  $("client-secret").value = "";
  $("client-redirect").value = c.redirect_uri;
  $("client-scopes").value = c.scopes.join(" ");
  setEndpoints(c.endpoints);
  $("form-title").textContent = `Edit ${c.name}`;
  $("client-cancel").hidden = false;
  updateSecretRow(c);
  $("client-name").focus();
}

function updateSecretRow(editing) {
  const needsSecret = $("client-auth").value !== "none";
  $("secret-row").hidden = !needsSecret;
  $("secret-hint").textContent = editing && editing.secret_stored_at ? "Leave empty to keep the stored secret." : "";
}

async function save(event) {
  event.preventDefault();
  const endpoints = {};
  for (const [k, id] of Object.entries(ENDPOINT_FIELDS)) {
    const v = $(id).value.trim();
    if (v) endpoints[k] = v;
  }
  const input = {
    id: $("client-local-id").value || null,
    name: $("client-name").value,
    client_id: $("client-id").value,
    auth_method: $("client-auth").value,
    redirect_uri: $("client-redirect").value,
    scopes: $("client-scopes").value,
    secret: $("client-auth").value === "none" ? null : $("client-secret").value || null,
    endpoints,
  };
  // Kept in the field when the save fails (the user fixes the form, not the secret); cleared
  // once it is in the keychain, so it does not linger in the page.
  const saved = await call("save_client", { input });
  $("client-secret").value = "";
  showBanner(`Saved ${saved.name}.`, "info");
  resetForm();
}

function tick() {
  for (const node of document.querySelectorAll(".countdown")) {
    node.textContent = formatCountdown(node.dataset.expires || null);
  }
}

async function init() {
  $("client-form").addEventListener("submit", save);
  $("client-auth").addEventListener("change", () => updateSecretRow());
  $("client-cancel").addEventListener("click", resetForm);
  $("use-cloudflare").addEventListener("click", () => setEndpoints(CLOUDFLARE));
  const demo = await invoke("demo_endpoints").catch(() => null);
  if (demo) {
    $("use-demo").hidden = false;
    $("use-demo").addEventListener("click", () => setEndpoints(demo));
  }
  resetForm();
  await listen("grants-changed", refresh);
  await listen("login-result", (e) => {
    if (e.payload.ok) showBanner("Logged in: the new grant is listed below.", "info");
    else showBanner(e.payload.message);
  });
  await refresh();
  setInterval(tick, 1000);
}

init();
