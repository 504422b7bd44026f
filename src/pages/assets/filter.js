// Hides the rows whose text does not hold the filter's words; without scripts the box stays hidden.
(function () {
  var box = document.getElementById('filter-box'), f = document.getElementById('filter');
  var rows = document.querySelectorAll('#list tbody tr');
  box.hidden = false;
  f.addEventListener('input', function () {
    var q = f.value.trim().toLowerCase();
    rows.forEach(function (r) { r.hidden = q !== '' && r.textContent.toLowerCase().indexOf(q) < 0; });
  });
})();
