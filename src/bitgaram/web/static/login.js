// The login page's start-up, kept out of the HTML: the Content-Security-Policy allows no inline script.
if (new URLSearchParams(location.search).has("error")) {
  document.getElementById("login-error").hidden = false;
}
Bitgaram.i18n.apply();
