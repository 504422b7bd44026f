// Makes a keap-form-worker form answer in place: sends it with fetch,
// shows success or the field at fault, and keeps the page. No framework,
// no build step. Forms marked `data-keap-form` are enhanced; their
// `action` is the worker's address. If the worker cannot be reached (or
// the browser refuses the answer), the form is sent the plain way, which
// needs no JavaScript at all.
//
// It also fills the form's hidden context fields, recorded in the Keap
// note: `_page` (this page's address), `_referrer` (the page that led
// here) and `utm_source`, `utm_medium`, `utm_campaign`, `utm_term`,
// `utm_content`, `gclid` from this page's query string.
(function () {
  'use strict';

  // What the visitor reads, by the worker's stable error codes. Edit or
  // translate freely; `{label}` is the field's label text.
  var MESSAGES = {
    sent: 'Thank you! Your message has been sent.',
    sending: 'Sending…',
    missing_field: 'Please fill in {label}.',
    invalid_email: 'Please enter a valid email address.',
    invalid_phone: 'Please enter a phone number with digits.',
    invalid_value: '{label} contains characters that cannot be used.',
    field_too_long: '{label} is too long.',
    unknown_tag: 'One of the chosen options is not offered by this form.',
    rate_limited: 'Too many messages in a short time. Please wait a minute and try again.',
    turnstile_failed: 'The anti-spam check failed. Please try again.',
    origin_not_allowed: 'This form cannot be sent from this website.',
    fallback: 'Your message was not sent. Please try again later.'
  };
  var TIMEOUT_MS = 20000;
  var CAMPAIGN = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'gclid'];

  // Sets a hidden field the form has; a field the form leaves out is not
  // added (the owner chose not to record it).
  function setHidden(form, name, value) {
    var input = form.elements.namedItem(name);
    if (input && input.type === 'hidden' && value) input.value = value;
  }

  function fillContext(form) {
    setHidden(form, '_page', window.location.href);
    setHidden(form, '_referrer', document.referrer);
    var query = 'URLSearchParams' in window ? new URLSearchParams(window.location.search) : null;
    for (var i = 0; query && i < CAMPAIGN.length; i++) {
      setHidden(form, CAMPAIGN[i], query.get(CAMPAIGN[i]));
    }
  }

  function enhance(form) {
    var button = form.querySelector('button[type="submit"], button:not([type])');
    var status = form.querySelector('[role="status"]');
    var sending = false;
    fillContext(form);

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (sending) return;
      sending = true;
      clearErrors(form, status);
      setBusy(button, status, true);

      var controller = 'AbortController' in window ? new AbortController() : null;
      var timer = controller && setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
      fetch(form.getAttribute('action'), {
        method: 'POST',
        body: new FormData(form),
        headers: { Accept: 'application/json' },
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        return response.json(); // every answer of the worker is JSON here
      }).then(function (answer) {
        clearTimeout(timer);
        sending = false;
        setBusy(button, status, false);
        if (answer && answer.ok) {
          form.reset();
          say(status, 'ok', MESSAGES.sent);
          if (status) status.focus();
        } else {
          showError(form, status, (answer && answer.error) || {});
        }
      }, function () {
        // Unreachable, timed out, or the answer was refused by the
        // browser (CORS): the plain post still works without us.
        clearTimeout(timer);
        HTMLFormElement.prototype.submit.call(form);
      });
    });
  }

  function showError(form, status, error) {
    var input = error.field && form.elements.namedItem(error.field);
    if (input && !input.id && input.length) input = input[0]; // e.g. several `tags` checkboxes
    var label = input && input.labels && input.labels[0] ? input.labels[0].textContent.replace(/\s*\(.*\)\s*$/, '') : '';
    var template = MESSAGES[error.code];
    var text = template ? template.replace('{label}', label || 'this field') : (error.message || MESSAGES.fallback);
    if (input && input.setAttribute) {
      input.setAttribute('aria-invalid', 'true');
      var slot = document.getElementById(error.field + '-error');
      if (slot) slot.textContent = text;
      say(status, 'bad', text);
      input.focus();
    } else {
      say(status, 'bad', text);
    }
  }

  function clearErrors(form, status) {
    var marked = form.querySelectorAll('[aria-invalid="true"]');
    for (var i = 0; i < marked.length; i++) marked[i].removeAttribute('aria-invalid');
    var slots = form.querySelectorAll('.field-error');
    for (var j = 0; j < slots.length; j++) slots[j].textContent = '';
    say(status, '', '');
  }

  function setBusy(button, status, busy) {
    if (button) button.disabled = busy;
    if (busy) say(status, '', MESSAGES.sending);
  }

  function say(status, kind, text) {
    if (!status) return;
    status.className = 'status' + (kind ? ' ' + kind : '');
    status.setAttribute('tabindex', '-1');
    status.textContent = text;
  }

  var forms = document.querySelectorAll('form[data-keap-form]');
  for (var i = 0; i < forms.length; i++) enhance(forms[i]);
})();
