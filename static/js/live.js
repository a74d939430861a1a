/*
 * Live regions: parts of a page that follow a state the server changes on its own (a
 * VICIdial call the task worker makes, a batch it works through).
 *
 * Contract, for any template: an element with an `id` and `data-live-refresh="<ms>"` is
 * refreshed. The script fetches the page's own URL, parses the answer and puts the element
 * of the same id in place of the current one. It goes on while the new element still has
 * data-live-refresh; the server ends it by leaving the attribute out (the state is final).
 * After a change, the text of `[data-live-announce]` inside the element is read out by
 * screen readers through a polite live region; focus stays where it is. While a form
 * control inside the element has focus, the element is left alone (the person is typing
 * or about to press it); the next poll tries again.
 *
 * One fetch a tick serves every live element on the page. The first waits the smallest
 * data-live-refresh; while nothing changes the wait grows gently to MAX_DELAY, and a change
 * brings it back (the next step usually follows soon). Nothing is fetched while the tab is
 * hidden. After MAX_FAILURES failed fetches in a row, or an answer that cannot be used (a
 * login page, a refusal), each element says the live view stopped and to reload the page.
 */
(function () {
  "use strict";

  var MAX_DELAY = 2000;
  var GROWTH = 1.25;
  var MAX_FAILURE_DELAY = 5000;
  var MAX_FAILURES = 5;
  var STOPPED_TEXT = "The live view stopped updating. Reload the page to see the latest state.";
  var FORM_CONTROLS = "input, select, textarea, button, [contenteditable]";
  var FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";

  var timer = null;
  var fetching = false;
  var stopped = false;
  var delay = 0;
  var failures = 0;
  var announcer = null;
  // What the server last sent for each element, to leave an unchanged one untouched.
  var lastHtml = {};

  function liveElements() {
    return Array.prototype.slice.call(document.querySelectorAll("[id][data-live-refresh]"));
  }

  function baseDelay(elements) {
    var smallest = MAX_DELAY;
    elements.forEach(function (element) {
      var ms = parseInt(element.getAttribute("data-live-refresh"), 10);
      if (ms > 0 && ms < smallest) {
        smallest = ms;
      }
    });
    return smallest;
  }

  function makeAnnouncer() {
    // Made before the first change: screen readers only follow live regions that exist.
    var region = document.createElement("div");
    region.className = "visually-hidden";
    region.setAttribute("aria-live", "polite");
    region.setAttribute("data-testid", "live-announcer");
    document.body.appendChild(region);
    return region;
  }

  function announce(text) {
    announcer.textContent = "";
    // Emptied first, then filled a moment later, so the same words twice are read twice.
    window.setTimeout(function () {
      announcer.textContent = text;
    }, 50);
  }

  function announcement(element) {
    var parts = [];
    element.querySelectorAll("[data-live-announce]").forEach(function (part) {
      var text = part.textContent.replace(/\s+/g, " ").trim();
      if (text) {
        parts.push(text);
      }
    });
    return parts.join(" ");
  }

  function focusedControlIn(element) {
    var active = document.activeElement;
    return active && element.contains(active) && active.matches(FORM_CONTROLS);
  }

  function swap(current, fresh) {
    // A link inside keeps focus across the swap: the one at the same place in the new copy.
    var active = document.activeElement;
    var index = -1;
    if (active && active !== document.body && current.contains(active)) {
      index = Array.prototype.indexOf.call(current.querySelectorAll(FOCUSABLE), active);
    }
    var adopted = document.importNode(fresh, true);
    current.replaceWith(adopted);
    if (index >= 0) {
      var again = adopted.querySelectorAll(FOCUSABLE)[index];
      if (!again) {
        adopted.setAttribute("tabindex", "-1");
        again = adopted;
      }
      again.focus({ preventScroll: true });
    }
    return adopted;
  }

  function stop(text) {
    stopped = true;
    window.clearTimeout(timer);
    timer = null;
    liveElements().forEach(function (element) {
      element.removeAttribute("data-live-refresh");
      if (!element.querySelector("[data-live-stopped]")) {
        var note = document.createElement("p");
        note.className = "alert alert-warning";
        note.setAttribute("role", "alert");
        note.setAttribute("data-live-stopped", "");
        note.textContent = text;
        element.insertBefore(note, element.firstChild);
      }
    });
  }

  function schedule(wait) {
    window.clearTimeout(timer);
    timer = null;
    if (stopped || fetching || document.visibilityState === "hidden") {
      return;
    }
    if (liveElements().length === 0) {
      return;
    }
    timer = window.setTimeout(poll, wait);
  }

  function apply(html) {
    var fetched = new DOMParser().parseFromString(html, "text/html");
    var changed = false;
    var unusable = false;
    liveElements().forEach(function (current) {
      var fresh = fetched.getElementById(current.id);
      if (!fresh) {
        unusable = true;
        return;
      }
      var freshHtml = fresh.outerHTML;
      if (freshHtml === lastHtml[current.id] || focusedControlIn(current)) {
        return;
      }
      lastHtml[current.id] = freshHtml;
      var adopted = swap(current, fresh);
      changed = true;
      var text = announcement(adopted);
      if (text) {
        announce(text);
      }
    });
    if (unusable) {
      // Not the page it was (a login page after the session ended): polling cannot help.
      stop(STOPPED_TEXT);
      return;
    }
    var base = baseDelay(liveElements());
    delay = changed ? base : Math.min(Math.max(delay, base) * GROWTH, Math.max(MAX_DELAY, base));
  }

  function failed() {
    failures += 1;
    if (failures >= MAX_FAILURES) {
      stop(STOPPED_TEXT);
      return;
    }
    delay = Math.min(Math.max(delay, 500) * 2, MAX_FAILURE_DELAY);
  }

  function poll() {
    timer = null;
    if (stopped || document.visibilityState === "hidden") {
      return;
    }
    fetching = true;
    window
      .fetch(window.location.href, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { "X-Requested-With": "live-refresh" },
      })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.ok && type.indexOf("text/html") === 0) {
          return response.text().then(function (html) {
            failures = 0;
            apply(html);
          });
        }
        if (response.status >= 500 || response.status === 429 || response.status === 408) {
          failed();
        } else {
          stop(STOPPED_TEXT); // refused or gone: asking again gets the same answer
        }
        return null;
      })
      .catch(failed)
      .then(function () {
        fetching = false;
        schedule(delay);
      });
  }

  function start() {
    var elements = liveElements();
    if (elements.length === 0) {
      return;
    }
    elements.forEach(function (element) {
      lastHtml[element.id] = element.outerHTML;
    });
    announcer = makeAnnouncer();
    delay = baseDelay(elements);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") {
        window.clearTimeout(timer);
        timer = null;
      } else {
        // Back on the tab: look now, the state may have moved while it was hidden.
        delay = baseDelay(liveElements());
        schedule(0);
      }
    });
    schedule(delay);
  }

  start();
})();
