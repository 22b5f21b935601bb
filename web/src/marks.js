// marks.js: where the labels of alert markers go, so that none overlaps
// another. Pure (no DOM): chart.js measures the text and draws.
//
// Each marker is a vertical line at x with a label beside it. Labels are
// placed left to right in the order of their x: a label goes right of its
// line when it fits inside [left, right], else left of it, and on the first
// row (from the top) where it does not touch a label already placed. Rows
// are rowHeight apart; a label that would fall below maxRows rows is left
// out (its line is still drawn) rather than drawn over another.

export function layoutLabels(items, { left, right, rowHeight, gap = 4, maxRows = 8 }) {
  const order = items.map((it, i) => i).sort((a, b) => items[a].x - items[b].x);
  const rows = []; // rows[r] = list of [x0, x1] already taken
  const out = new Array(items.length).fill(null);
  for (const i of order) {
    const { x, width } = items[i];
    const onRight = x + gap + width <= right;
    const x0 = onRight ? x + gap : Math.max(left, x - gap - width);
    const x1 = x0 + width;
    let row = 0;
    for (; row < maxRows; row++) {
      const taken = rows[row] || [];
      if (taken.every(([a, b]) => x1 + gap <= a || x0 >= b + gap)) break;
    }
    if (row === maxRows) continue;
    (rows[row] = rows[row] || []).push([x0, x1]);
    out[i] = { x0, x1, row, y: row * rowHeight, onRight };
  }
  return out;
}

// Whether two laid-out labels overlap (for tests): rectangles of one row
// height, given their rows.
export function labelsOverlap(a, b, rowHeight) {
  if (!a || !b) return false;
  const ya0 = a.row * rowHeight;
  const yb0 = b.row * rowHeight;
  return a.x0 < b.x1 && b.x0 < a.x1 && ya0 < yb0 + rowHeight && yb0 < ya0 + rowHeight;
}
