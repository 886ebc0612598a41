// A second click while the first submit is on its way would post the same run twice; the server
// copes (it redirects to the job), this only spares the round trip.
document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.name === "wizard_goto_step") return;
    if (form.dataset.submitted) { event.preventDefault(); return; }
    form.dataset.submitted = "1";
  });
});
