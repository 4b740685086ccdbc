// The return page after Checkout: poll the payment until Stripe's webhook has landed,
// then reload to show the new balance. Credits come only from the webhook.
(function () {
  var note = document.getElementById("confirming");
  if (!note || note.dataset.status !== "pending") return;
  var tries = 0;
  function poll() {
    tries += 1;
    fetch(note.dataset.statusUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.status !== "pending") { window.location.reload(); }
        else if (tries < 150) { setTimeout(poll, 2000); }
      })
      .catch(function () { if (tries < 150) setTimeout(poll, 4000); });
  }
  setTimeout(poll, 1000);
})();
