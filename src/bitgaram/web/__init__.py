"""The browser dashboard: static pages and scripts served by the API app (no CDN)."""
