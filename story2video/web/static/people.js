// How a character looks on the page wherever it appears: initials, a steady colour, its portrait, its voice hints.

import { h } from "./dom.js";
import { t } from "./i18n.js";

/** "Tom Baker" -> "TB"; "张明" -> "张明"; "欧阳小红" -> "小红" (Chinese names are shown by their last two characters). */
export function initials(name) {
  const text = String(name || "").trim();
  if (!text) return "?";
  if (/[\u2E80-\u9FFF\uF900-\uFAFF]/.test(text)) return Array.from(text.replace(/\s+/g, "")).slice(-2).join("");
  return text
    .split(/[\s\-_.]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((word) => Array.from(word)[0].toUpperCase())
    .join("");
}

/** A colour per character, the same on its card, its chips and its lines: hues spread by the golden angle in cast order. */
export function castHues(story) {
  const cast = (story && story.cast) || [];
  return new Map(cast.map((character, index) => [character.character_id, Math.round((205 + index * 137.508) % 360)]));
}

/** "1, 3" in English, "1、3" in Chinese. */
export function listOf(items) {
  return items.join(t("list.separator"));
}

/** The voice hints in words: "male · adult · warm, low" (empty parts left out). */
export function voiceHints(character) {
  const parts = [];
  if (character.gender) parts.push(t(`cast.gender.${character.gender}`));
  if (character.age) parts.push(t(`cast.age.${character.age}`));
  if (character.timbre) parts.push(character.timbre);
  return parts.join(" · ");
}

/**
 * A portrait frame (hue: from castHues): the initials on the character's colour until a picture has loaded, then the picture.
 * show(url) switches the picture (null: back to the initials); onChange(state) hears "loaded" | "failed" | "none".
 */
export function portrait(character, hue, className, onChange = () => {}) {
  const initialsEl = h("span", { class: "portrait-initials", "aria-hidden": "true" }, initials(character.name));
  const img = h("img", { class: "portrait-image", alt: "", decoding: "async", hidden: true });
  const root = h("div", { class: `portrait ${className}` }, initialsEl, img);
  if (hue !== undefined) root.style.setProperty("--hue", String(hue));
  const shown = (loaded) => {
    img.hidden = !loaded;
    initialsEl.hidden = loaded;
  };
  img.addEventListener("load", () => {
    shown(true);
    onChange("loaded");
  });
  img.addEventListener("error", () => {
    if (!img.getAttribute("src")) return;
    shown(false);
    onChange("failed");
  });
  return {
    root,
    img,
    show(url) {
      if (!url) {
        img.removeAttribute("src");
        shown(false);
        onChange("none");
      } else if (img.getAttribute("src") !== url) {
        shown(false);
        img.src = url;
      }
    },
  };
}

export function castById(story) {
  return new Map(((story && story.cast) || []).map((character) => [character.character_id, character]));
}
