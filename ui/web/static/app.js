// The shopping-list page: talks only to this person's own client (same origin).
// Every change goes to the JSON API with the CSRF token; the server-sent
// event stream says when to ask again (another person's edit, the status).
"use strict";

const state = { csrf: "", current: null, status: { online: false, waiting: [] } };
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const init = body === undefined
    ? { headers: { Accept: "application/json" } }
    : {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": state.csrf },
        body: JSON.stringify(body),
      };
  const response = await fetch(path, init);
  let doc = {};
  try { doc = await response.json(); } catch (_) { doc = {}; }
  return { ok: response.ok, status: response.status, doc };
}

// ------------------------------------------------------------ messages

function clearErrors(root) {
  for (const p of root.querySelectorAll(".error")) p.textContent = "";
  for (const i of root.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
}

function showError(root, doc) {
  const field = doc.field || "form";
  const message = doc.error || "That did not work.";
  let target = root.querySelector(`.error[data-field="${field}"]`);
  if (!target) target = root.querySelector(".item-error") || $("list-form-error");
  target.textContent = message;
  const input = root.querySelector(`[name="${field}"]`);
  if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
}

// ------------------------------------------------------------ status

function renderStatus() {
  const el = $("status");
  const waiting = state.status.waiting.length;
  el.className = "status " + (state.status.online ? "online" : "offline");
  el.textContent = (state.status.online ? "Online" : "Offline")
    + (waiting ? ` · ${waiting} list${waiting > 1 ? "s" : ""} waiting to sync` : "");
}

// ------------------------------------------------------------ home

async function loadHome() {
  const { ok, doc } = await api("/api/state");
  if (!ok) return;
  state.csrf = doc.csrf;
  state.status = { online: doc.online, waiting: doc.waiting };
  $("who").textContent = doc.client_id;
  renderStatus();
  const ul = $("lists");
  ul.replaceChildren();
  for (const entry of doc.lists) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `#/list/${encodeURIComponent(entry.id)}`;
    a.textContent = entry.name || "(unnamed)";
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = `${entry.items} item${entry.items === 1 ? "" : "s"}`;
    li.append(a, meta);
    if (entry.waiting) {
      const badge = document.createElement("span");
      badge.className = "badge waiting";
      badge.textContent = "waiting";
      li.append(badge);
    }
    ul.append(li);
  }
  $("no-lists").hidden = doc.lists.length > 0;
}

// ------------------------------------------------------------ one list

function itemRow(row, bought) {
  const li = $("item-template").content.firstElementChild.cloneNode(true);
  const key = row.id.replace(/[^A-Za-z0-9_-]/g, (c) => "_" + c.charCodeAt(0));
  li.dataset.item = row.id;
  li.querySelector(".item-name").textContent = row.id;
  li.querySelector(".item-counts").textContent = bought
    ? `${row.bought} bought`
    : `${row.quantity} to buy · ${row.needed} needed · ${row.bought} bought`;
  li.querySelector(".badge").hidden = !row.waiting;
  for (const [form, name, value] of [[".quantity-form", "quantity", row.needed], [".buy-form", "buy", row.quantity]]) {
    const f = li.querySelector(form);
    const input = f.querySelector("input");
    const label = f.querySelector("label");
    const id = `${name}-${key}`;
    input.id = id;
    label.htmlFor = id;
    label.textContent = `${name === "buy" ? "Buy" : "Quantity"}`;
    input.setAttribute("aria-label", `${name === "buy" ? "How many to buy of" : "Quantity of"} ${row.id}`);
    input.value = String(value);
    const err = document.createElement("p");
    err.className = "error";
    err.dataset.field = name;
    err.id = `${id}-error`;
    input.setAttribute("aria-describedby", err.id);
    f.append(err);
  }
  li.querySelector(".buy-form").hidden = bought;
  li.querySelector(".buy-all").setAttribute("aria-label", `Buy all ${row.id}`);
  li.querySelector(".remove").setAttribute("aria-label", `Remove ${row.id}`);
  li.querySelector(".quantity-form button").setAttribute("aria-label", `Set quantity of ${row.id}`);
  li.querySelector(".buy-form button[type=submit]").setAttribute("aria-label", `Buy ${row.id}`);
  return li;
}

function renderList(doc) {
  $("list-name").textContent = doc.name || "(unnamed)";
  document.title = `${doc.name || "List"} · Shopping lists`;
  $("list-waiting").hidden = !doc.waiting;
  if (doc.refused) $("list-form-error").textContent = "The cluster refused edits here: you may only view this list.";
  const focused = document.activeElement && document.activeElement.closest(".item");
  const active = document.activeElement;
  const keep = focused && { item: focused.dataset.item, name: active.name, value: active.value };
  for (const [id, rows, bought] of [["to-buy", doc.to_buy, false], ["bought", doc.bought, true]]) {
    const ul = $(id);
    ul.replaceChildren(...rows.map((row) => itemRow(row, bought)));
  }
  $("to-buy-count").textContent = `(${doc.to_buy.length})`;
  $("bought-count").textContent = `(${doc.bought.length})`;
  $("nothing-to-buy").hidden = doc.to_buy.length > 0;
  if (keep) {
    const li = [...document.querySelectorAll(".item")].find((e) => e.dataset.item === keep.item);
    const el = li && (li.querySelector(`[name="${keep.name}"]`) || li.querySelector("button"));
    if (el && keep.name && el.value !== undefined) el.value = keep.value;
    if (el) el.focus();
  }
}

async function loadList() {
  if (!state.current) return;
  const { ok, status, doc } = await api(`/api/lists/${encodeURIComponent(state.current)}`);
  if (ok) renderList(doc);
  else if (status === 404) location.hash = "#/";
}

async function listEdit(root, path, body) {
  clearErrors(root);
  const { ok, doc } = await api(`/api/lists/${encodeURIComponent(state.current)}/${path}`, body);
  if (!ok) { showError(root, doc); return false; }
  renderList(doc);
  return true;
}

// ------------------------------------------------------------ routing

async function route() {
  const match = location.hash.match(/^#\/list\/(.+)$/);
  state.current = match ? decodeURIComponent(match[1]) : null;
  $("home-view").hidden = !!state.current;
  $("list-view").hidden = !state.current;
  $("invite-out").hidden = true;
  clearErrors(document);
  await loadHome();
  if (state.current) await loadList();
  else document.title = "Shopping lists";
  document.body.dataset.ready = "true";
}

// ------------------------------------------------------------ forms

function wire() {
  $("create-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    clearErrors(form);
    const { ok, doc } = await api("/api/lists", { name: $("create-name").value });
    if (!ok) return showError(form, doc);
    $("create-name").value = "";
    location.hash = `#/list/${encodeURIComponent(doc.id)}`;
  });
  $("join-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    clearErrors(form);
    const { ok, doc } = await api("/api/join", { link: $("join-link").value });
    if (!ok) return showError(form, doc);
    $("join-link").value = "";
    location.hash = `#/list/${encodeURIComponent(doc.id)}`;
  });
  $("add-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { item: $("add-item").value, quantity: $("add-quantity").value };
    if (await listEdit(e.currentTarget, "add", body)) {
      $("add-item").value = "";
      $("add-quantity").value = "1";
      $("add-item").focus();
    }
  });
  $("rename-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await listEdit(e.currentTarget, "rename", { name: $("rename-name").value })) {
      $("rename-name").value = "";
      loadHome();
    }
  });
  $("invite-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    clearErrors(form);
    const path = `/api/lists/${encodeURIComponent(state.current)}/invite`;
    const { ok, doc } = await api(path, { role: $("invite-role").value });
    if (!ok) return showError(form, { ...doc, field: "role" });
    $("invite-link").value = doc.link;
    $("invite-out").hidden = false;
    $("invite-link").select();
  });
  $("delete-list").addEventListener("click", async () => {
    const path = `/api/lists/${encodeURIComponent(state.current)}/delete`;
    const { ok, doc } = await api(path, {});
    if (!ok) return showError($("list-view"), doc);
    location.hash = "#/";
  });
  for (const id of ["to-buy", "bought"]) {
    const ul = $(id);
    ul.addEventListener("submit", async (e) => {
      e.preventDefault();
      const li = e.target.closest(".item");
      const item = li.dataset.item;
      if (e.target.classList.contains("quantity-form")) {
        await listEdit(li, "quantity", { item, quantity: e.target.quantity.value });
      } else {
        await listEdit(li, "buy", { item, quantity: e.target.buy.value });
      }
    });
    ul.addEventListener("click", async (e) => {
      const li = e.target.closest(".item");
      if (!li) return;
      if (e.target.classList.contains("buy-all")) await listEdit(li, "buy", { item: li.dataset.item, all: true });
      if (e.target.classList.contains("remove")) await listEdit(li, "remove", { item: li.dataset.item });
    });
  }
}

// ------------------------------------------------------------ live updates

function listen() {
  const events = new EventSource("/api/events");
  events.addEventListener("status", (e) => {
    state.status = JSON.parse(e.data);
    renderStatus();
    loadHome();
    if (state.current) loadList();
  });
  events.addEventListener("list", (e) => {
    const { id } = JSON.parse(e.data);
    loadHome();
    if (id === state.current) loadList();
  });
  events.addEventListener("error", () => {
    $("status").className = "status offline";
    $("status").textContent = "This page lost its client: is it still running?";
  });
}

window.addEventListener("hashchange", route);
wire();
route();
listen();
