"""Gradio's own words (its upload boxes' "Drop Image Here", the recorder's "Record", the
chat's buttons) in the language of the page's 中文 / English switch.

Gradio's front end picks its locale once, from the browser's language (svelte-i18n, set up in its
`core-*.js` module, which exports `changeLocale`: what its own Settings menu calls), and each
component reads its built-in words when it appears. There is no URL parameter or Python setting
for it. So the switch calls `changeLocale` in the browser, then hides and shows again the
components that carry built-in words; their values are kept.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import gradio as gr

logger = logging.getLogger(__name__)

# the page's language -> Gradio's locale (its front end's lang/*.json)
GRADIO_LOCALES = {"en": "en", "zh": "zh-CN"}


def gradio_locale_module() -> str | None:
    """The file name of the Gradio front-end module that exports `changeLocale`; None (logged)
    if this Gradio has none, and then its words follow the browser's language only."""
    assets = Path(gr.__file__).parent / "templates" / "frontend" / "assets"
    for module in sorted(assets.glob("core-*.js")):
        if " as changeLocale" in module.read_text(encoding="utf-8", errors="replace"):
            return module.name
    logger.info("this Gradio (%s) has no changeLocale in %s: its own labels follow the browser's language", gr.__version__, assets)  # fmt: skip
    return None


def locale_js(module: str | None) -> str | None:
    """The browser side of the switch: Gradio's locale set through the module the page has
    already loaded (found by its file name among the page's resources, so that it is the same
    instance), waiting until its words are loaded (svelte-i18n then sets <html lang>)."""
    if module is None:
        return None
    return f"""async (lang) => {{
  const name = {json.dumps(module)}, locales = {json.dumps(GRADIO_LOCALES)};
  const loaded = performance.getEntriesByType("resource").map((e) => e.name)
    .find((url) => url.split("?")[0].endsWith("/" + name));
  try {{
    const core = await import(loaded || new URL("assets/" + name, document.baseURI).href);
    const want = locales[lang] || "en";
    core.changeLocale(want);
    for (let i = 0; i < 100 && document.documentElement.lang !== want; i++) {{
      await new Promise((done) => setTimeout(done, 20));
    }}
  }} catch (e) {{ console.warn("cca demo: could not set Gradio's language", e); }}
  return lang;
}}"""


def gradio_labels_follow(blocks: gr.Blocks, ui: gr.Radio, boxes: list, live_box=None) -> None:
    """Wire the switch `ui` to Gradio's locale: set it, then hide and show `boxes` (and the live
    call's microphone, unless a call runs) so that they read their words again. At load the page
    takes the browser's language: Chinese if it prefers Chinese, else English."""
    js = locale_js(gradio_locale_module())
    if js is None:
        return
    live = [live_box.state] if live_box is not None else []
    boxes = boxes + ([live_box.mic] if live_box is not None else [])

    def shown(visible: bool):
        def updates(*call):  # call: the live call's state, if the page has one
            in_call = bool(call) and call[0] is not None and not call[0].closed
            show = gr.update(visible=visible)
            return (*[show] * (len(boxes) - len(call)), *[gr.skip() if in_call else show] * len(call))  # fmt: skip

        return updates

    quiet = dict(api_name=False, queue=False, show_progress="hidden")
    ui.change(None, [ui], None, js=js, **quiet).then(shown(False), live, boxes, **quiet).then(
        shown(True), live, boxes, **quiet
    )
    prefers = "() => (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en'"
    blocks.load(None, None, [ui], js=prefers, api_name=False, queue=False)
