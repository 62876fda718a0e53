// Browser storage that never throws.

/** localStorage that never throws (private mode, disabled storage): the page still works, it just forgets. */
export const safeStorage = {
  get(key) {
    try {
      return window.localStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      if (value === null || value === undefined) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, value);
    } catch {
      /* storage unavailable: keep the value for this visit only */
    }
  },
};
