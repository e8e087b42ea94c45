import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';
import { installEventFlush } from './events';
import { prefetchFeed } from './shopper/feed-data';
import './styles.css';

const ICON = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="4" fill="#111"/><path d="M5 12V4h6M5 8h5" stroke="#fff" stroke-width="2" fill="none"/></svg>')}`;

// the first feed page is requested before React renders: the first screen waits on one round trip, not two
if (location.pathname === '/') prefetchFeed();
installEventFlush();
// an icon of our own, so the browser does not ask for /favicon.ico (a 404, logged as an error on every page)
document.head.append(Object.assign(document.createElement('link'), { rel: 'icon', href: ICON }));
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
