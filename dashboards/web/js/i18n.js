// Translations and the local formats of dates and times. Every UI text comes from one file per language,
// i18n/<lang>.json (a flat map of keys to texts with {name} placeholders), loaded once at boot — no build step.
// The language is the one the user chose (remembered in localStorage), else the browser's first supported
// language, else English. Dates read dd/MM/yyyy in Vietnamese and ISO-like yyyy-MM-dd in English, times are
// 24-hour, and the time zone they are shown in is named wherever times are shown.
//
// Adding a language: add i18n/<lang>.json with every key of en.json and list it in LANGS;
// TestUIStringsTranslated (e2e/browser) fails while a key used in the code is missing from any file.

export const LANGS = { vi: "Tiếng Việt", en: "English" };
const STORE = "citywatch.lang";

let lang = "en";
let dict = {};
let fallback = {};

// pickLang chooses the UI language: the stored choice, then the browser's languages, then English.
export function pickLang(stored, browser) {
  if (stored && LANGS[stored]) return stored;
  for (const l of browser || []) {
    const base = String(l).toLowerCase().split("-")[0];
    if (LANGS[base]) return base;
  }
  return "en";
}

async function fetchDict(l) {
  const res = await fetch(new URL(`../i18n/${l}.json`, import.meta.url), { credentials: "same-origin" });
  if (!res.ok) throw new Error(`i18n ${l}: HTTP ${res.status}`);
  return res.json();
}

// loadI18n loads the chosen language (and English under it for any key a translation lacks).
export async function loadI18n() {
  let stored = "";
  try { stored = localStorage.getItem(STORE) || ""; } catch { /* storage disabled */ }
  lang = pickLang(stored, navigator.languages || [navigator.language]);
  const [en, own] = await Promise.all([fetchDict("en"), lang === "en" ? null : fetchDict(lang).catch(() => null)]);
  fallback = en;
  dict = own || en;
  if (!own) lang = "en";
  document.documentElement.lang = lang;
  window.__citywatchI18n = { lang, t };
}

// setLang remembers the user's choice and reloads the page in that language.
export function setLang(l) {
  if (!LANGS[l]) return;
  try { localStorage.setItem(STORE, l); } catch { /* storage disabled: this page only */ }
  location.reload();
}

// localized is an alert's annotation in the UI language when its rule gives one (summary_vi beside summary,
// as the shipped rule packs do), else the annotation itself.
export function localized(annotations, name) {
  if (!annotations) return "";
  return annotations[`${name}_${lang}`] || annotations[name] || "";
}

// currentLang is the UI language.
export function currentLang() { return lang; }

// t is the text for key with {name} placeholders filled from vars.
export function t(key, vars) {
  let s = dict[key] ?? fallback[key];
  if (s === undefined) {
    console.warn(`i18n: no text for ${key}`);
    s = key;
  }
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
}

// tOr is t(key) when some language file has key, else fallbackText with vars filled in: for texts named by
// data (such as states), and for modules used before (or without) loadI18n.
export function tOr(key, fallbackText, vars) {
  if (key in dict || key in fallback) return t(key, vars);
  return vars ? fallbackText.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : fallbackText;
}

const p2 = (n) => String(n).padStart(2, "0");

// IANA_NAMES are the IANA names of zones that browsers built on ICU (chromium) report by their old CLDR
// aliases: chromium at Asia/Ho_Chi_Minh says "Asia/Saigon", which is not the name Vietnamese users (or the
// server's configuration, e.g. notify.receivers[].time_zone) give their zone.
const IANA_NAMES = {
  "Asia/Saigon": "Asia/Ho_Chi_Minh", "Asia/Calcutta": "Asia/Kolkata", "Asia/Katmandu": "Asia/Kathmandu",
  "Asia/Rangoon": "Asia/Yangon", "Europe/Kiev": "Europe/Kyiv", "Atlantic/Faeroe": "Atlantic/Faroe",
  "America/Godthab": "America/Nuuk", "Pacific/Truk": "Pacific/Chuuk", "Pacific/Ponape": "Pacific/Pohnpei",
  "Asia/Ulan_Bator": "Asia/Ulaanbaatar",
};

// zoneName names the browser's time zone with its current UTC offset: "Asia/Ho_Chi_Minh (UTC+07:00)".
export function zoneName(ms = Date.now()) {
  const off = -new Date(ms).getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const reported = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  const name = IANA_NAMES[reported] || reported;
  const utc = `UTC${sign}${p2(Math.floor(Math.abs(off) / 60))}:${p2(Math.abs(off) % 60)}`;
  return name && name !== "UTC" ? `${name} (${utc})` : utc;
}

// fmtDate renders a day in the language's order: 07/12/2026 (vi) or 2026-12-07 (en).
export function fmtDate(ms) {
  const d = new Date(ms);
  return lang === "vi" ? `${p2(d.getDate())}/${p2(d.getMonth() + 1)}/${d.getFullYear()}`
    : `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}`;
}

// fmtTime renders a 24-hour time, with seconds unless short.
export function fmtTime(ms, short = false) {
  const d = new Date(ms);
  return short ? `${p2(d.getHours())}:${p2(d.getMinutes())}` : `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

// fmtDateTime renders a date and a 24-hour time in the browser's zone.
export function fmtDateTime(ms, short = false) { return `${fmtDate(ms)} ${fmtTime(ms, short)}`; }
