// The paywall script is not built in this version of uraiden (the JavaScript client of js/ is
// still being written): the page says so instead of offering controls that do nothing.
const status = document.querySelector('[data-uraiden="status"]');
if (status) {
  status.textContent =
    "Paying from a browser wallet is not available yet: pay with a program (uraiden get) using this response's headers.";
}
for (const control of document.querySelectorAll("button[data-uraiden]")) control.disabled = true;
