// Sends a test lead with fetch and shows the answer beside its form (without scripts the form
// posts and a result page answers); shows the snippets' copy buttons.
(function () {
  document.querySelectorAll('form.test-lead').forEach(function (f) {
    var out = f.nextElementSibling;
    var show = function (cls, text) { out.className = 'test-lead-result' + cls; out.textContent = text; };
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      show('', 'Sending…');
      var body = new URLSearchParams(new FormData(f));
      fetch(f.action, { method: 'POST', headers: { 'Accept': 'application/json' }, body: body })
        .then(function (r) { return r.json(); }).then(function (a) {
          if (!a.ok) return show(' bad', a.error.message + ' (' + a.error.code + ')');
          show(' ok', 'Test lead ' + a.status + (a.contact_id ? ': contact ' + a.contact_id : '') +
            (a.tag_ids && a.tag_ids.length ? ', tags ' + a.tag_ids.join(', ') : '') + '.');
        }).catch(function () { show(' bad', 'No answer from the worker.'); });
    });
  });
  document.querySelectorAll('section.form-setup button.copy').forEach(function (b) {
    var t = b.closest('section').querySelector('textarea.snippet');
    var done = function () { b.textContent = 'Copied'; };
    var fallback = function () { t.select(); document.execCommand('copy'); done(); };
    b.hidden = false;
    b.addEventListener('click', function () {
      if (navigator.clipboard) navigator.clipboard.writeText(t.value).then(done, fallback); else fallback();
    });
  });
})();
