// The console's only script (the Content-Security-Policy allows no inline script). Every
// page works without it; it adds:
// - a form with data-confirm="question" is submitted only if the user confirms;
// - a button with data-copy="#selector" copies that element's text (the Clipboard API;
//   where it is missing or refused, the text is selected for the user to copy). The
//   button is hidden in the HTML and shown here, so without script there is no dead button.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function copyNote(button, text) {
  const note = button.closest("section")?.querySelector("[data-copied-note]");
  if (note) {
    note.textContent = text;
    note.hidden = false;
  }
}

document.querySelectorAll("button[data-copy]").forEach((button) => {
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    const text = source.textContent.trim();
    const fallback = () => {
      selectText(source);
      copyNote(button, "Selected: press Ctrl+C (⌘C on a Mac) to copy.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(() => {
        button.textContent = "Copied";
        copyNote(button, "Copied to the clipboard.");
      }, fallback);
    } else {
      fallback();
    }
  });
});

// The new key form: the fields of an inference key only (data-kind-only) are hidden while
// the management kind is chosen (the server refuses them for a management key anyway).
document.querySelectorAll("input[name=kind]").forEach((radio) => {
  const form = radio.form;
  const sync = () => {
    const kind = form.querySelector("input[name=kind]:checked")?.value || "inference";
    form.querySelectorAll("[data-kind-only]").forEach((group) => {
      group.hidden = group.dataset.kindOnly !== kind;
    });
  };
  radio.addEventListener("change", sync);
  sync();
});
