/**
 * The Home tab of the playground's page (page.ts interpolates these into its one page): a Channel/Home switch in the
 * header and a pane that shows the Home view berth published for the person acting, with its buttons. Opening the
 * pane asks berth for a fresh view (/home, an `app_home_opened`); a tap goes to /home-action. The script runs inside
 * page.ts's script and uses its helpers (el, renderBlocks, send, state); like it, it has no backticks.
 */
export const homeStyle = String.raw`
  [hidden] { display: none !important; }
  #tabs { display: flex; gap: 4px; }
  #tabs button { font: inherit; font-size: 13px; font-weight: 600; padding: 4px 10px; min-height: 32px; border-radius: 6px;
    border: 1px solid rgba(255,255,255,.5); background: transparent; color: #fff; cursor: pointer; }
  #tabs button[aria-selected="true"] { background: #fff; color: #3f0e40; }
  #home { flex: 1 1 auto; overflow-y: auto; padding: 8px 12px 16px; overflow-wrap: anywhere; }
  #home h3 { margin: 10px 0 4px; font-size: 16px; }
  #home hr { border: 0; border-top: 1px solid var(--line); margin: 10px 0; }
`;

export const homeTabs = String.raw`<nav id="tabs" role="tablist" aria-label="View">
    <button type="button" role="tab" id="tab-channel" aria-selected="true">Channel</button>
    <button type="button" role="tab" id="tab-home" aria-selected="false">Home</button>
  </nav>`;

export const homePane = String.raw`<main id="home" role="tabpanel" aria-labelledby="tab-home" aria-live="polite" hidden></main>`;

export const homeScript = String.raw`
  var homePane = document.getElementById("home");
  var tabChannel = document.getElementById("tab-channel");
  var tabHome = document.getElementById("tab-home");
  var homes = {};
  var onHome = false;
  function renderHome() {
    homePane.textContent = "";
    var view = homes[state.me];
    if (!view) { var wait = el("div", "intro"); wait.textContent = "Opening Home\u2026"; homePane.appendChild(wait); return; }
    renderBlocks(view.blocks || [], view, homePane);
  }
  function acceptHome(item) {
    homes[item.user] = item;
    if (onHome && item.user === state.me) renderHome();
  }
  function showTab(home) {
    onHome = home;
    log.hidden = home;
    document.getElementById("composer").hidden = home;
    homePane.hidden = !home;
    tabChannel.setAttribute("aria-selected", String(!home));
    tabHome.setAttribute("aria-selected", String(home));
    if (home) { renderHome(); send("/home", { user: state.me }); }
  }
  tabChannel.addEventListener("click", function () { showTab(false); });
  tabHome.addEventListener("click", function () { showTab(true); });
  select.addEventListener("change", function () { if (onHome) showTab(true); });
`;
