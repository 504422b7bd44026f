// The filter box over a list of Keap's tags or fields: hides the rows
// whose text does not hold the filter's words. Without scripts the box
// stays hidden and the table is whole.
(function () {
  var box = document.getElementById('filter-box'), f = document.getElementById('filter'),
    rows = document.querySelectorAll('#list tbody tr');
  box.hidden = false;
  f.addEventListener('input', function () {
    var q = f.value.trim().toLowerCase();
    rows.forEach(function (r) { r.hidden = q !== '' && r.textContent.toLowerCase().indexOf(q) < 0; });
  });
})();
