// Human-readable sizes and dates.

import { h } from "./dom.js";

const UNITS = ["KiB", "MiB", "GiB", "TiB"];

/** 1536 -> "1.5 KiB" (binary units, like the 1 GiB default quota). */
export function formatBytes(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} ${n === 1 ? "byte" : "bytes"}`;
  let value = n;
  let unit = -1;
  do {
    value /= 1024;
    unit += 1;
  } while (value >= 1024 && unit < UNITS.length - 1);
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits).replace(/\.?0+$/, "")} ${UNITS[unit]}`;
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const DATE_TIME_SECONDS = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "medium",
});

/** A <time> element for an ISO 8601 timestamp, in the reader's time zone. */
export function timeEl(iso, { seconds = false } = {}) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h("span", {}, String(iso));
  const text = (seconds ? DATE_TIME_SECONDS : DATE_TIME).format(date);
  return h("time", { datetime: iso, title: date.toISOString() }, text);
}
