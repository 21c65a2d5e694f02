"""The MER Live dashboard: `ui.app` (Gradio layout, launch, `run_ui`), `ui.session` (the engine, its
store and the session folder), `ui.drawing` (pure drawing functions). Gradio and matplotlib are
imported by those modules only, never by `import ui`."""
