// colors.js: one colour per selected run, in selection order, so a link
// reproduces the colours too. The first ten avoid the red and green of the
// reference lines (collapsed / ideal); after them, hues on the golden angle.

const PALETTE = [
  '#2563eb', // blue
  '#ea580c', // orange
  '#7c3aed', // violet
  '#0891b2', // cyan
  '#db2777', // pink
  '#a16207', // ochre
  '#475569', // slate
  '#4f46e5', // indigo
  '#9333ea', // purple
  '#0d9488', // teal
];

export function runColor(i) {
  if (i < PALETTE.length) return PALETTE[i];
  const h = (i * 137.508) % 360;
  return `hsl(${h.toFixed(0)} 65% 42%)`;
}

// The same colour with an alpha, for bands and faint raw lines.
export function withAlpha(color, a) {
  if (color.startsWith('#')) {
    const n = parseInt(color.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
  }
  return color.replace(')', ` / ${a})`);
}

export const REF_COLLAPSED = '#d92d20';
export const REF_IDEAL = '#15803d';
