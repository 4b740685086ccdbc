// The console's only script (the Content-Security-Policy allows no inline script): a form
// with data-confirm="question" is submitted only if the user confirms.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
