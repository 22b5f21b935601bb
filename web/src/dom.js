// dom.js: el(), the one helper that builds DOM nodes for the dashboard
// (app.js, chart.js).
//
// el('button', { class: 'chip', text: 'rankme', onclick: f }, child, ...):
// `class` sets className, `text` textContent, `on<event>` adds a listener,
// any other key is an attribute (skipped when null or undefined); children
// that are null are skipped, so conditional children need no filtering.

export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v != null) e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}
