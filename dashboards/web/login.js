// Sign-in: POST the credentials as JSON, then go where the user was headed — only to a path on this site.
const form = document.getElementById("login");
const error = document.getElementById("login-error");
const button = form.querySelector("button");

function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  error.textContent = "";
  button.disabled = true;
  const body = JSON.stringify({ username: form.username.value, password: form.password.value });
  try {
    const res = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body, credentials: "same-origin" });
    if (res.ok) {
      location.assign(nextPath());
      return;
    }
    const data = await res.json().catch(() => ({}));
    error.textContent = res.status === 429 ? "Too many attempts; wait a moment and try again." : (data.error || `Sign-in failed (${res.status}).`);
  } catch (e) {
    error.textContent = "The server cannot be reached.";
  } finally {
    button.disabled = false;
  }
});
