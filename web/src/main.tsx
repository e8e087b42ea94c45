import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';
import { installEventFlush } from './events';
import { prefetchFeed } from './shopper/feed-data';
import './styles.css';

// the first feed page is requested before React renders: the first screen waits on one round trip, not two
if (location.pathname === '/') prefetchFeed();
installEventFlush();
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
