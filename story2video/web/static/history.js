// "My stories": the current user's stories, most recent first; each one reopens the story.

import { api } from "./api.js";
import { h, $ } from "./dom.js";
import { formatDateTime, t } from "./i18n.js";
import { Notices } from "./notices.js";

export class HistoryList {
  constructor(root, { onOpen }) {
    this.list = $("#history-list", root);
    this.status = $("#history-status", root);
    this.notices = new Notices($("#history-notices", root));
    this.onOpen = onOpen;
    this.stories = null;
    this.currentId = null;
    this.userId = null;
    this.loading = false;
    $("#history-refresh", root).addEventListener("click", () => this.load(this.userId));
  }

  async load(userId) {
    this.userId = userId;
    this.loading = true;
    this.render();
    try {
      const stories = await api.stories(userId);
      if (userId !== this.userId) return; // the user id changed while this was loading
      this.stories = stories;
      this.notices.clear("load");
    } catch (error) {
      if (userId !== this.userId) return;
      this.notices.showError("load", error, { retry: () => this.load(this.userId) });
    } finally {
      if (userId === this.userId) {
        this.loading = false;
        this.render();
      }
    }
  }

  setCurrent(storyId) {
    this.currentId = storyId;
    this.render();
  }

  render() {
    const stories = this.stories || [];
    this.status.textContent = this.loading && !this.stories ? t("history.loading") : stories.length ? "" : this.stories ? t("history.empty") : "";
    this.list.replaceChildren(...stories.map((story) => this.item(story)));
  }

  item(story) {
    const name = story.display_name || story.story_id;
    const current = story.story_id === this.currentId;
    const button = h(
      "button",
      {
        type: "button",
        class: "history-item",
        "aria-current": current ? "true" : null,
        onclick: () => this.onOpen(story.story_id),
      },
      h("span", { class: "history-name" }, name),
      h(
        "span",
        { class: "history-meta" },
        t("history.shots", { n: story.shot_count }),
        " · ",
        formatDateTime(story.updated_at),
        story.video_url ? h("span", { class: "badge badge-done" }, t("history.video")) : null,
      ),
    );
    return h("li", { dataset: { storyId: story.story_id } }, button);
  }
}
