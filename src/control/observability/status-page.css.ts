// The status page's style sheet, inlined (no external assets: the page must
// work with no network beyond the controller itself).

export const STATUS_PAGE_CSS = `
:root {
  --bg: #f4f6f8; --card: #ffffff; --ink: #1f2328; --muted: #656d76; --line: #d8dee4;
  --head: #24292f; --up: #1a7f37; --up-bg: #dafbe1; --down: #cf222e; --down-bg: #ffebe9;
  --warn: #9a6700; --warn-bg: #fff8c5; --in: #1f6feb; --out: #e16f24;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; }
header { background: var(--head); color: #fff; padding: 10px 24px; display: flex;
  align-items: center; gap: 16px; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header .meta { color: #c9d1d9; font-size: 13px; }
header .live { margin-left: auto; display: flex; align-items: center; gap: 8px; font-size: 13px; }
.dot { width: 10px; height: 10px; border-radius: 50%; background: #8b949e; display: inline-block; }
.live.ok .dot { background: #3fb950; box-shadow: 0 0 0 3px rgba(63,185,80,.25); }
.live.lost .dot { background: #f85149; }
main { padding: 16px 24px 32px; max-width: 1400px; margin: 0 auto; }
.banner { display: none; background: var(--down-bg); color: var(--down); border: 1px solid #ffcecb;
  padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; }
.banner.show { display: block; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px;
  margin-bottom: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .6px; }
.card .value { font-size: 24px; font-weight: 600; margin-top: 2px; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.value.good { color: var(--up); } .value.bad { color: var(--down); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  margin-bottom: 16px; overflow: hidden; }
section > h2 { font-size: 15px; margin: 0; padding: 10px 14px; border-bottom: 1px solid var(--line);
  display: flex; align-items: baseline; gap: 10px; background: #f6f8fa; }
section > h2 .hint { font-weight: 400; color: var(--muted); font-size: 12px; }
.legend { margin-left: auto; display: flex; gap: 14px; font-weight: 400; font-size: 12px; }
.legend .swatch { display: inline-block; width: 12px; height: 3px; vertical-align: middle;
  margin-right: 5px; border-radius: 2px; }
.swatch.in { background: var(--in); } .swatch.out { background: var(--out); }
.chart { padding: 8px 10px 4px; }
.chart canvas { width: 100%; height: 200px; display: block; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
th, td { padding: 6px 10px; text-align: left; border-bottom: 1px solid #eaeef2; white-space: nowrap; }
th { font-size: 11px; text-transform: uppercase; letter-spacing: .5px; color: var(--muted);
  font-weight: 600; background: #fbfcfd; white-space: normal; vertical-align: bottom; line-height: 1.25; }
td.num, th.num { text-align: right; }
tbody tr:hover { background: #f6f8fa; }
tbody tr:last-child td { border-bottom: none; }
.mono { font-family: var(--mono); font-size: 12.5px; }
.name { font-weight: 600; }
.muted { color: var(--muted); }
.empty { color: var(--muted); padding: 12px 14px; font-style: italic; }
.badge { display: inline-block; min-width: 52px; text-align: center; padding: 1px 8px; border-radius: 10px;
  font-size: 12px; font-weight: 700; letter-spacing: .4px; }
.badge.up { color: var(--up); background: var(--up-bg); border: 1px solid #aceebb; }
.badge.down { color: var(--down); background: var(--down-bg); border: 1px solid #ffcecb; }
.badge.warn { color: var(--warn); background: var(--warn-bg); border: 1px solid #f5e0a0; }
.tag { display: inline-block; padding: 0 6px; border-radius: 4px; background: #eaeef2; color: #424a53;
  font-size: 11px; margin-left: 6px; }
.group { border-top: 1px solid var(--line); }
.group:first-of-type { border-top: none; }
.group h3 { margin: 0; padding: 8px 14px; font-size: 14px; display: flex; align-items: center; gap: 10px; }
.group h3 .detail { font-weight: 400; color: var(--muted); font-size: 12px; }
tr.is-down td { background: #fff5f5; }
.err { color: var(--down); white-space: normal; min-width: 160px; max-width: 320px; overflow-wrap: anywhere; font-size: 12.5px; }
td .sub { color: var(--muted); font-size: 11.5px; }
canvas.spark { width: 120px; height: 26px; display: block; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding-bottom: 16px; }
`;
