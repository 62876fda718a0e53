// Signing in (ACCOUNTS_ENABLED): the access token lives in this page's memory only; the refresh token is an
// HttpOnly cookie the page never sees. A reload signs in again from the cookie (POST auth/refresh).

import { $ } from "./dom.js";
import { addStrings, t } from "./i18n.js";

addStrings({
  en: {
    "account.username": "Username",
    "account.password": "Password",
    "account.signIn": "Sign in",
    "account.register": "Register",
    "account.signOut": "Sign out",
    "account.signedInAs": "Signed in as {name}",
    "account.required": "Sign in to see and make your stories.",
    "account.failed": "Could not sign in: {message}",
    "account.registerFailed": "Could not register: {message}",
    "account.tooMany": "Too many failed attempts; try again in {seconds} s.",
  },
  zh: {
    "account.username": "用户名",
    "account.password": "密码",
    "account.signIn": "登录",
    "account.register": "注册",
    "account.signOut": "退出",
    "account.signedInAs": "已登录：{name}",
    "account.required": "登录后可查看和创建你的故事。",
    "account.failed": "无法登录：{message}",
    "account.registerFailed": "无法注册：{message}",
    "account.tooMany": "失败次数过多，请 {seconds} 秒后再试。",
  },
});

const REFRESH_MARGIN_S = 60;
let token = null;
let refreshTimer = null;

/** The signed-in person's access token, or null. */
export function accessToken() {
  return token;
}

function authUrl(name) {
  return new URL(`api/v1/auth/${name}`, document.baseURI).toString();
}

/** POST to an auth route; resolves to {ok, status, data, retryAfter}. */
async function post(name, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(authUrl(name), { method: "POST", headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, data, retryAfter: response.headers.get("Retry-After") };
}

function failureText(answer, key) {
  if (answer.status === 429) return t("account.tooMany", { seconds: answer.retryAfter || "?" });
  const message = (answer.data && answer.data.error && answer.data.error.message) || `${answer.status}`;
  return t(key, { message });
}

/**
 * Show the sign-in form when the service has accounts; resolves to whether it has them.
 * onSignedIn({user_id, username}) runs after every sign-in (and a sign-in restored from the cookie);
 * onSignedOut() after signing out or losing the session.
 */
export async function initAccount({ onSignedIn, onSignedOut }) {
  let config = null;
  try {
    const response = await fetch(authUrl("config"), { headers: { Accept: "application/json" } });
    config = response.ok ? await response.json() : null;
  } catch {
    config = null;
  }
  if (!config || !config.accounts_enabled) return false;
  const box = $("#account");
  const form = $("#sign-in");
  const error = $("#account-error");
  box.hidden = false;

  const signedIn = (grant) => {
    token = grant.access_token;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, Math.max(30, grant.expires_in - REFRESH_MARGIN_S) * 1000);
    form.hidden = true;
    $("#signed-in").hidden = false;
    $("#account-name").textContent = t("account.signedInAs", { name: grant.username });
    error.textContent = "";
    onSignedIn({ user_id: grant.user_id, username: grant.username });
  };
  const signedOut = (message = t("account.required")) => {
    token = null;
    clearTimeout(refreshTimer);
    form.hidden = false;
    $("#signed-in").hidden = true;
    error.textContent = message;
    onSignedOut();
  };
  async function refresh() {
    const answer = await post("refresh").catch(() => ({ ok: false, status: 0, data: null }));
    if (answer.ok) signedIn(answer.data);
    else signedOut();
  }
  const credentials = () => ({ username: $("#account-username").value.trim(), password: $("#account-password").value });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await post("login", credentials());
    if (answer.ok) signedIn(answer.data);
    else error.textContent = failureText(answer, "account.failed");
  });
  $("#register-button").addEventListener("click", async () => {
    const registered = await post("register", credentials());
    if (!registered.ok) {
      error.textContent = failureText(registered, "account.registerFailed");
      return;
    }
    const answer = await post("login", credentials());
    if (answer.ok) signedIn(answer.data);
    else error.textContent = failureText(answer, "account.failed");
  });
  $("#sign-out-button").addEventListener("click", async () => {
    await post("logout").catch(() => null);
    $("#account-password").value = "";
    signedOut("");
  });

  await refresh();
  return true;
}
