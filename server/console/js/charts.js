// Charts drawn as SVG by our own code: bars against a target, a funnel,
// and a share bar. Each chart is an image with a text alternative
// (role="img", <title>) and carries its figures as data attributes, so a
// table beside it or a test reads the same numbers.

const SVG = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) element.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function chart(label, width, height, ...children) {
  return s(
    'svg',
    { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, class: 'chart', preserveAspectRatio: 'xMinYMin meet' },
    s('title', null, label),
    ...children,
  );
}

/**
 * Horizontal bars: rows of `{ label, value, target?, text }`; the bar is
 * value/target (or value/max of values), a mark at 100 %.
 */
export function attainmentBars(label, rows) {
  const rowHeight = 30;
  const labelWidth = 170;
  const barWidth = 360;
  const height = Math.max(rows.length, 1) * rowHeight + 10;
  const max = Math.max(1, ...rows.map((r) => (r.target ? r.value / r.target : 0)), 1);
  const scale = (ratio) => (Math.min(ratio, max) / max) * barWidth;
  const parts = rows.map((row, index) => {
    const y = index * rowHeight + 5;
    const ratio = row.target ? row.value / row.target : 0;
    const tone = ratio >= 1 ? 'ok' : ratio >= 0.6 ? 'warn' : 'bad';
    return s(
      'g',
      { class: 'bar-row', 'data-label': row.label, 'data-value': row.value, 'data-target': row.target ?? '' },
      s('text', { x: 0, y: y + 18, class: 'axis-label' }, row.label),
      s('rect', { x: labelWidth, y: y + 4, width: barWidth, height: 18, class: 'track' }),
      s('rect', { x: labelWidth, y: y + 4, width: scale(ratio), height: 18, class: `bar ${tone}` }),
      s('text', { x: labelWidth + barWidth + 8, y: y + 18, class: 'value-label' }, row.text),
    );
  });
  const goal = labelWidth + scale(1);
  return chart(
    label,
    labelWidth + barWidth + 120,
    height,
    ...parts,
    s('line', { x1: goal, x2: goal, y1: 0, y2: height, class: 'goal' }),
  );
}

/** A funnel: stages of `{ label, count, text }` in order, widths by count. */
export function funnel(label, stages) {
  const rowHeight = 34;
  const width = 520;
  const max = Math.max(1, ...stages.map((stage) => stage.count));
  const height = Math.max(stages.length, 1) * rowHeight + 6;
  const parts = stages.map((stage, index) => {
    const w = Math.max(4, (stage.count / max) * (width - 200));
    const x = (width - 200 - w) / 2;
    const y = index * rowHeight + 3;
    return s(
      'g',
      { class: 'funnel-stage', 'data-label': stage.label, 'data-count': stage.count },
      s('rect', { x, y, width: w, height: rowHeight - 6, rx: 3, class: `stage s${index % 6}` }),
      s('text', { x: width - 190, y: y + 19, class: 'value-label' }, stage.text),
    );
  });
  return chart(label, width, height, ...parts);
}

/** One bar split into shares: parts of `{ label, count, tone }`. */
export function shareBar(label, parts) {
  const width = 520;
  const total = parts.reduce((sum, part) => sum + part.count, 0) || 1;
  let x = 0;
  const rects = parts.map((part) => {
    const w = (part.count / total) * width;
    const rect = s(
      'rect',
      { x, y: 0, width: w, height: 28, class: `share ${part.tone}`, 'data-label': part.label, 'data-count': part.count },
      s('title', null, `${part.label}: ${part.count}`),
    );
    x += w;
    return rect;
  });
  return chart(label, width, 28, ...rects);
}
