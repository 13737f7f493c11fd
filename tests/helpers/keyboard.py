"""Keyboard-only checks for any page: what Tab should reach, what it does reach, and whether focus
can be seen there.

`tabbable` lists the controls a keyboard user should reach, in document order (one radio per
group, nothing hidden, disabled or inside a closed <details>), tagging each with `data-kb`;
`walk` presses Tab (or Shift+Tab) until focus comes back round and records where it stopped.
A walk that returns to its start has met no keyboard trap.
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page

TABBABLE = """() => {
  const found = [];
  const groups = new Set();
  const candidates = 'a[href], button, input, select, textarea, summary, [tabindex]';
  for (const el of document.querySelectorAll(candidates)) {
    if (el.disabled || el.tabIndex < 0 || el.type === 'hidden') continue;
    if (el.closest('[hidden], [inert]')) continue;
    const details = el.parentElement && el.parentElement.closest('details');
    const isItsSummary = el.tagName === 'SUMMARY' && el.parentElement === details;
    if (details && !details.open && !isItsSummary) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || !el.getClientRects().length) continue;
    if (el.type === 'radio') {
      const key = (el.form ? el.form.id || el.form.action : '') + '|' + el.name;
      if (groups.has(key)) continue;
      groups.add(key);
      const scope = el.form || document;
      const group = Array.from(scope.querySelectorAll('input[type=radio]'))
        .filter(r => r.name === el.name);
      const chosen = group.find(r => r.checked) || group[0];
      chosen.dataset.kb = String(found.length);
      found.push(chosen.dataset.kb);
      continue;
    }
    el.dataset.kb = String(found.length);
    found.push(el.dataset.kb);
  }
  return found;
}"""

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  const label = (el.getAttribute('aria-label') || el.labels?.[0]?.textContent
                 || el.textContent || el.name || el.id || '').trim().replace(/\\s+/g, ' ');
  return {
    kb: el.dataset.kb ?? null,
    what: `${el.tagName.toLowerCase()} "${label.slice(0, 60)}"`,
    outline: style.outlineStyle === 'none' ? 0 : parseFloat(style.outlineWidth),
    ring: style.boxShadow !== 'none',
    onScreen: box.bottom > 0 && box.top < window.innerHeight && box.right > 0
              && box.left < window.innerWidth,
  };
}"""


@dataclass(frozen=True)
class Stop:
    kb: str | None
    """The `data-kb` tag `tabbable` gave the element (None: not one it expected)."""
    what: str
    outline: float
    ring: bool
    on_screen: bool

    @property
    def visible_focus(self) -> bool:
        """A focus indicator at least 2 px wide, on screen."""
        return (self.outline >= 2 or self.ring) and self.on_screen


def tabbable(page: Page) -> list[str]:
    return list(page.evaluate(TABBABLE))


def focused(page: Page) -> Stop | None:
    state = page.evaluate(FOCUSED)
    if state is None:
        return None
    return Stop(state["kb"], state["what"], state["outline"], state["ring"], state["onScreen"])


def walk(page: Page, key: str = "Tab", *, limit: int) -> list[Stop]:
    """Press `key` until focus returns to the first place it stopped (or `limit` presses)."""
    stops: list[Stop] = []
    for _ in range(limit):
        page.keyboard.press(key)
        stop = focused(page)
        if stop is None:
            continue  # focus left the page for the browser's own UI; the next press comes back
        if stops and stop.kb is not None and stop.kb == stops[0].kb:
            return stops
        stops.append(stop)
    raise AssertionError(f"focus never came back round after {limit} presses of {key} "
                         f"(a keyboard trap?); last stops: {[s.what for s in stops[-5:]]}")


def start_at_top(page: Page) -> None:
    """Put the keyboard's starting point before the first control, as on a fresh load.

    Clicks and autofocus move it; focusing the body (made focusable for a moment) moves it back.
    """
    page.evaluate("""() => {
        document.body.tabIndex = -1;
        document.body.focus();
        document.body.removeAttribute('tabindex');
        window.scrollTo(0, 0);
    }""")


def tab_to(page: Page, selector: str, *, limit: int = 200, key: str = "Tab") -> None:
    """Move focus with the keyboard alone until the element matching `selector` has it."""
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"{selector} was never reached with {key}")
