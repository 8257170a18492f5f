// tlsrpt's dashboard: every page is a shell the server renders, filled from
// the JSON API (/api/v1/). Text from reports is only ever set as text, never
// parsed as HTML. State lives in the URL, so a view can be bookmarked.
'use strict';

(() => {
  const body = document.body;
  const page = body.dataset.page;
  const pollSeconds = Number(body.dataset.poll) || 15;
  const nf = new Intl.NumberFormat('en');
  const pf = new Intl.NumberFormat('en', { style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
  // What the pages expose for their tests and for the curious.
  const state = (window.tlsrpt = { charts: {}, loads: 0 });

  // el builds an element: attributes, then children (strings become text).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const $ = (id) => document.getElementById(id);

  async function api(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v === undefined || v === null || v === '') continue;
      for (const x of [].concat(v)) q.append(k, x);
    }
    const url = '/api/v1/' + path + (q.toString() ? '?' + q : '');
    const resp = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      throw new Error(`${url}: ${resp.status} ${resp.statusText}`);
    }
    if (!resp.ok) throw new Error(data && data.error ? data.error : `${url}: ${resp.status}`);
    return data;
  }

  function showError(err) {
    const p = $('error');
    p.textContent = err ? String(err.message || err) : '';
    p.hidden = !err;
    if (err) body.dataset.state = 'error';
  }

  function loaded() {
    state.loads++;
    body.dataset.state = 'loaded';
    showError(null);
  }

  const num = (n) => (n === null || n === undefined ? '' : nf.format(n));
  const pct = (r) => (r === null || r === undefined ? '' : pf.format(r));
  const DAY = 86400000;

  function relative(ms) {
    const diff = ms - Date.now();
    const abs = Math.abs(diff);
    if (abs < 3600000) return rtf.format(Math.round(diff / 60000), 'minute');
    if (abs < DAY) return rtf.format(Math.round(diff / 3600000), 'hour');
    if (abs < 60 * DAY) return rtf.format(Math.round(diff / DAY), 'day');
    if (abs < 730 * DAY) return rtf.format(Math.round(diff / (30 * DAY)), 'month');
    return rtf.format(Math.round(diff / (365 * DAY)), 'year');
  }

  // day shows a UTC day (2026-11-01), with how long ago as its title.
  function day(s) {
    if (!s) return '';
    const ms = Date.parse(s + 'T00:00:00Z');
    return el('time', { datetime: s, title: isNaN(ms) ? null : relative(ms) }, s);
  }

  // when shows a time in UTC and how long ago.
  function when(iso) {
    if (!iso) return '';
    const ms = Date.parse(iso);
    if (isNaN(ms)) return iso;
    const text = new Date(ms).toISOString().replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
    return el('time', { datetime: iso, title: text }, `${text} (${relative(ms)})`);
  }

  const verdictText = { ready: 'ready', 'not-ready': 'not ready', 'insufficient-data': 'insufficient data' };
  const badge = (v) => el('span', { class: 'badge ' + v, 'data-verdict': v }, verdictText[v] || v);

  function fill(tbody, rows, columns, empty) {
    tbody.replaceChildren();
    if (!rows.length) {
      tbody.append(el('tr', {}, el('td', { colspan: columns, class: 'empty' }, empty)));
      return;
    }
    for (const r of rows) tbody.append(r);
  }

  const td = (content, cls) => el('td', { class: cls }, content);
  const numTd = (n) => td(num(n), 'num');

  // sparkline draws a day series of rates (null: no sessions that day).
  function sparkline(rates, label) {
    const ns = 'http://www.w3.org/2000/svg';
    const w = 120, h = 24;
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
    const base = document.createElementNS(ns, 'line');
    base.setAttribute('x1', 0); base.setAttribute('x2', w);
    base.setAttribute('y1', h - 1); base.setAttribute('y2', h - 1);
    svg.append(base);
    const top = Math.max(0.0001, ...rates.filter((r) => r !== null));
    const step = rates.length > 1 ? w / (rates.length - 1) : 0;
    let seg = [];
    const flush = () => {
      if (seg.length) {
        const pl = document.createElementNS(ns, 'polyline');
        pl.setAttribute('points', (seg.length === 1 ? [seg[0], seg[0].replace(/^[\d.]+/, (x) => String(Number(x) + 1))] : seg).join(' '));
        svg.append(pl);
      }
      seg = [];
    };
    rates.forEach((r, i) => {
      if (r === null) return flush();
      seg.push(`${(i * step).toFixed(1)},${(h - 2 - (r / top) * (h - 4)).toFixed(1)}`);
    });
    flush();
    return svg;
  }

  // Polling: each page says what to do when a report arrives.
  function poll(onChange) {
    let seen = null;
    const tick = async () => {
      try {
        const s = await api('status');
        if (seen !== null && s.newest_report_id !== seen) {
          $('live').textContent = 'New reports arrived; updated ' + new Date().toISOString().slice(11, 19) + ' UTC.';
          await onChange(s.newest_report_id);
        }
        seen = s.newest_report_id;
      } catch (e) {
        $('live').textContent = 'Could not check for new reports: ' + e.message;
      }
    };
    tick();
    setInterval(tick, pollSeconds * 1000);
  }

  function urlParams() {
    return new URLSearchParams(location.search);
  }

  function setURL(params, push) {
    const q = params.toString();
    const url = location.pathname + (q ? '?' + q : '');
    if (url === location.pathname + location.search) return;
    if (push) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
  }

  // ---- Domains ----
  function domainsPage() {
    const pageSize = 50;
    const tbody = document.querySelector('#domains tbody');
    let shownNewest = null;
    const read = () => {
      const p = urlParams();
      return {
        window: p.get('window') || '30',
        asOf: p.get('as_of') || '',
        verdict: p.get('verdict') || '',
        q: p.get('q') || '',
        sort: p.get('sort') || 'verdict',
        order: p.get('order') || '',
        page: Math.max(1, Number(p.get('page')) || 1),
      };
    };
    const write = (s, push) => {
      const p = new URLSearchParams();
      if (s.window !== '30') p.set('window', s.window);
      if (s.asOf) p.set('as_of', s.asOf);
      if (s.verdict) p.set('verdict', s.verdict);
      if (s.q) p.set('q', s.q);
      if (s.sort !== 'verdict') p.set('sort', s.sort);
      if (s.order) p.set('order', s.order);
      if (s.page > 1) p.set('page', s.page);
      setURL(p, push);
    };
    const controls = (s) => {
      $('window').value = s.window;
      $('as_of').value = s.asOf;
      $('verdict').value = s.verdict;
      if (document.activeElement !== $('q')) $('q').value = s.q;
      for (const th of document.querySelectorAll('#domains th[data-sort]')) {
        const key = th.dataset.sort;
        if (!th.querySelector('button')) {
          const b = el('button', { type: 'button', class: 'sort' }, th.textContent);
          b.addEventListener('click', () => {
            const cur = read();
            const order = cur.sort === key ? (currentOrder(cur) === 'desc' ? 'asc' : 'desc') : '';
            write({ ...cur, sort: key, order, page: 1 }, true);
            load();
          });
          th.replaceChildren(b);
        }
        if (key === s.sort) th.setAttribute('aria-sort', currentOrder(s) === 'desc' ? 'descending' : 'ascending');
        else th.removeAttribute('aria-sort');
      }
    };
    const currentOrder = (s) => s.order || (s.sort === 'policy_domain' || s.sort === 'policy_mode' ? 'asc' : 'desc');
    async function load() {
      const s = read();
      controls(s);
      try {
        const d = await api('domains', {
          window: s.window, as_of: s.asOf, verdict: s.verdict, q: s.q, sort: s.sort, order: s.order,
          offset: (s.page - 1) * pageSize, limit: pageSize,
        });
        shownNewest = d.newest_report_id;
        const v = d.verdicts;
        $('counts').textContent = `${num(d.total)} domains with reports in the ${d.window} days to ${d.as_of}: ` +
          `${num(v['not-ready'] || 0)} not ready, ${num(v['insufficient-data'] || 0)} with insufficient data, ${num(v.ready || 0)} ready` +
          (d.matched !== d.total ? `; ${num(d.matched)} match` : '') + '.';
        // A domain's page shows the same days.
        let range = s.window !== '30' ? '?range=' + s.window : '';
        if (s.asOf) range = `?since=${d.days[0]}&until=${d.as_of}`;
        fill(tbody, d.domains.map((r) => {
          const link = el('a', { href: '/domains/' + encodeURIComponent(r.policy_domain) + range }, r.policy_domain);
          const reasons = r.reasons.join('\n');
          return el('tr', { 'data-domain': r.policy_domain },
            el('th', { scope: 'row' }, link),
            el('td', { title: reasons }, badge(r.verdict)),
            td(r.policy_mode || 'unknown'),
            numTd(r.successful_sessions),
            numTd(r.failed_sessions),
            td(pct(r.failure_rate), 'num'),
            td(sparkline(r.daily_failure_rate, `Daily failure rate of ${r.policy_domain}, ${d.days[0]} to ${d.days[d.days.length - 1]}`)),
            numTd(r.reporters),
            td(day(r.last_day)));
        }), 9, d.total ? 'No domain matches.' : `No reports in the ${d.window} days to ${d.as_of}: choose an earlier "As of" day for older reports.`);
        pager(d, s);
        loaded();
      } catch (e) {
        showError(e);
      }
    }
    function pager(d, s) {
      const nav = $('pager');
      nav.replaceChildren();
      const pages = Math.max(1, Math.ceil(d.matched / pageSize));
      const go = (n) => {
        const a = el('a', { href: '#' }, n < s.page ? 'Previous' : 'Next');
        a.addEventListener('click', (ev) => {
          ev.preventDefault();
          write({ ...read(), page: n }, true);
          load();
          $('main').focus();
        });
        return a;
      };
      if (s.page > 1) nav.append(go(s.page - 1));
      nav.append(el('span', {}, `Page ${s.page} of ${pages}`));
      if (s.page < pages) nav.append(go(s.page + 1));
    }
    $('window').addEventListener('change', () => { write({ ...read(), window: $('window').value, page: 1 }, true); load(); });
    $('verdict').addEventListener('change', () => { write({ ...read(), verdict: $('verdict').value, page: 1 }, true); load(); });
    $('as_of').addEventListener('change', () => { write({ ...read(), asOf: $('as_of').value, page: 1 }, true); load(); });
    let typing;
    $('q').addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => { write({ ...read(), q: $('q').value.trim(), page: 1 }, false); load(); }, 250);
    });
    $('filters').addEventListener('submit', (ev) => ev.preventDefault());
    window.addEventListener('popstate', load);
    load();
    poll(async (newest) => { if (newest !== shownNewest) await load(); });
  }

  // ---- Domain ----
  function rangeOf() {
    const p = urlParams();
    if (p.get('since') || p.get('until')) {
      return { range: 'custom', since: p.get('since') || '', until: p.get('until') || '' };
    }
    return { range: p.get('range') || '30', since: '', until: '' };
  }

  function daysBetween(a, b) {
    return Math.round((Date.parse(b + 'T00:00:00Z') - Date.parse(a + 'T00:00:00Z')) / DAY);
  }

  function domainPage() {
    const domain = body.dataset.domain;
    let today = null;
    async function load() {
      const r = rangeOf();
      $('range').value = r.range;
      try {
        if (!today) today = (await api('status')).today;
        let since = r.since, until = r.until, window;
        if (r.range !== 'custom') {
          window = Number(r.range);
          until = today;
          since = new Date(Date.parse(today + 'T00:00:00Z') - (window - 1) * DAY).toISOString().slice(0, 10);
        } else {
          until = until || today;
          since = since || until;
          window = daysBetween(since, until) + 1;
          if (window < 1) throw new Error(`From ${since} is after To ${until}: no day is in between.`);
        }
        $('since').value = since;
        $('until').value = until;
        const f = { domain, since, until };
        const [days, summary, verdict, inRange, senders, ips, failures] = await Promise.all([
          api('summary', { ...f, by: 'day' }),
          api('summary', f),
          api('readiness', { domain, as_of: until }),
          api('readiness', { domain, window, as_of: until }),
          api('summary', { ...f, by: 'sender' }),
          api('summary', { ...f, by: 'sending-ip' }),
          api('failures', { ...f, limit: 25 }),
        ]);
        renderVerdict(verdict.domains[0], until);
        renderChart(days.rows, since, until, summary.domains[0]);
        renderMX(inRange.domains[0]);
        renderTypes(summary.domains[0]);
        fill(document.querySelector('#senders tbody'), senders.rows.map((s) => el('tr', {},
          el('th', { scope: 'row' }, s.organization_name), numTd(s.reports), numTd(s.successful_sessions),
          numTd(s.failed_sessions), td(pct(s.failure_rate), 'num'))), 5, 'No reports in this range.');
        fill(document.querySelector('#ips tbody'), ips.rows.map((s) => el('tr', {},
          el('th', { scope: 'row' }, s.sending_mta_ip || '(none given)'), td(s.result_type), numTd(s.failed_sessions))), 3, 'No failures in this range.');
        fill(document.querySelector('#failures tbody'), failures.failures.map((x) => el('tr', {},
          td(el('a', { href: '/reports/' + x.report }, '#' + x.report)), td(day(x.start.slice(0, 10))), td(x.organization_name),
          td(x.result_type), td(x.receiving_mx_hostname || '(none)'), td(x.sending_mta_ip), numTd(x.failed_sessions),
          td(x.failure_reason_code, 'wrap'), td(x.additional_information, 'wrap'))), 9, 'No failure details in this range.');
        loaded();
      } catch (e) {
        showError(e);
      }
    }

    function renderVerdict(r, until) {
      const box = $('verdict');
      box.replaceChildren();
      if (!r) {
        box.append(el('p', { class: 'empty' }, `No reports in the ${30} days to ${until}.`));
        return;
      }
      box.append(el('p', {}, badge(r.verdict), ' ', `over the ${r.days_covered} days with reports from ${r.first_day} to ${r.last_day} (readiness as of ${until}); policy mode `,
        el('strong', {}, r.policy_mode || 'unknown'), r.mx_patterns.length ? `, mx ${r.mx_patterns.join(' ')}` : ''));
      box.append(el('ul', { class: 'reasons' }, r.reasons.map((x) => el('li', {}, x))));
    }

    function renderChart(rows, since, until, totals) {
      const n = daysBetween(since, until) + 1;
      const xs = [], ok = [], failed = [], rate = [];
      const byDay = new Map(rows.map((r) => [r.day, r]));
      for (let i = 0; i < n; i++) {
        const t = Date.parse(since + 'T00:00:00Z') + i * DAY;
        const d = byDay.get(new Date(t).toISOString().slice(0, 10));
        xs.push(t / 1000);
        ok.push(d ? d.successful_sessions : null);
        failed.push(d ? d.failed_sessions : null);
        rate.push(d ? d.failure_rate * 100 : null);
      }
      $('totals').textContent = totals
        ? `${num(totals.successful_sessions)} successful and ${num(totals.failed_sessions)} failed sessions in ${num(totals.reports)} reports, ${pct(totals.failure_rate)} failed, ${since} to ${until}.`
        : `No reports from ${since} to ${until}.`;
      const box = $('chart');
      const css = getComputedStyle(document.documentElement);
      const color = (v) => css.getPropertyValue(v).trim();
      const opts = {
        width: Math.max(280, box.clientWidth),
        height: 320,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        series: [
          { label: 'Day (UTC)', value: (u, v) => (v === null ? '' : new Date(v * 1000).toISOString().slice(0, 10)) },
          { label: 'Successful', stroke: color('--ok-line'), width: 2, scale: 'n', value: (u, v) => num(v) },
          { label: 'Failed', stroke: color('--bad-line'), width: 2, scale: 'n', value: (u, v) => num(v) },
          { label: 'Failure rate', stroke: color('--rate-line'), width: 1.5, dash: [4, 4], scale: '%', value: (u, v) => (v === null ? '' : v.toFixed(2) + '%') },
        ],
        axes: [
          { stroke: color('--fg'), grid: { stroke: color('--line') } },
          { scale: 'n', stroke: color('--fg'), grid: { stroke: color('--line') }, values: (u, vs) => vs.map((v) => num(v)) },
          { scale: '%', side: 1, stroke: color('--fg'), grid: { show: false }, values: (u, vs) => vs.map((v) => v + '%') },
        ],
        scales: { x: { time: true }, '%': { range: (u, lo, hi) => [0, Math.max(1, hi)] } },
      };
      if (state.charts.daily) state.charts.daily.destroy();
      box.replaceChildren();
      state.charts.daily = new uPlot(opts, [xs, ok, failed, rate], box);
      box.dataset.points = String(n);
    }

    function renderMX(r) {
      const tbody = document.querySelector('#mx tbody');
      const unmatched = $('unmatched');
      unmatched.replaceChildren();
      if (!r) {
        fill(tbody, [], 6, 'No reports in this range.');
        return;
      }
      fill(tbody, r.failures.map((f) => el('tr', {},
        el('th', { scope: 'row' }, f.mx_host || '(none given)'), td(f.result_type), numTd(f.failed_sessions),
        td(f.would_bounce ? 'bounce' : 'not bounce'), td(day(f.first_seen)), td(day(f.last_seen)))), 6, 'No failures in this range.');
      if (r.unmatched_mx.length) {
        unmatched.append(el('p', {}, 'MX hosts outside the policy\'s mx patterns (', r.mx_patterns.join(' '), '): ',
          el('strong', {}, r.unmatched_mx.join(', ')), '. Senders that enforce the policy would refuse them.'));
      }
    }

    function renderTypes(d) {
      const rows = [];
      if (d) {
        for (const [type, s] of Object.entries(d.policy_types).sort()) {
          const all = s.successful_sessions + s.failed_sessions;
          rows.push(el('tr', {}, el('th', { scope: 'row' }, type), numTd(s.successful_sessions), numTd(s.failed_sessions),
            td(pct(all ? s.failed_sessions / all : 0), 'num')));
        }
      }
      fill(document.querySelector('#types tbody'), rows, 4, 'No reports in this range.');
    }

    $('range').addEventListener('change', () => {
      const p = new URLSearchParams();
      if ($('range').value === 'custom') {
        p.set('since', $('since').value);
        p.set('until', $('until').value);
      } else if ($('range').value !== '30') {
        p.set('range', $('range').value);
      }
      setURL(p, true);
      load();
    });
    for (const id of ['since', 'until']) {
      $(id).addEventListener('change', () => {
        const p = new URLSearchParams();
        p.set('since', $('since').value);
        p.set('until', $('until').value);
        setURL(p, true);
        load();
      });
    }
    window.addEventListener('popstate', load);
    window.addEventListener('resize', () => {
      const c = state.charts.daily;
      if (c) c.setSize({ width: Math.max(280, $('chart').clientWidth), height: 320 });
    });
    load();
    poll(load);
  }

  // ---- Report ----
  async function reportPage() {
    const id = body.dataset.id;
    try {
      const r = await api('reports/' + encodeURIComponent(id));
      $('title').textContent = `Report ${r.id} from ${r.organization_name}`;
      document.title = `Report ${r.id} · tlsrpt`;
      const facts = (dl, pairs) => {
        dl.replaceChildren();
        for (const [k, v] of pairs) dl.append(el('dt', {}, k), el('dd', {}, v));
      };
      facts($('facts'), [
        ['Organisation', r.organization_name], ['Report id', r.report_id], ['Contact', r.contact_info || '(none)'],
        ['Period', [when(r.start), ' to ', when(r.end)]],
      ]);
      if (r.warnings.length) {
        $('warnings-s').hidden = false;
        $('warnings').replaceChildren(...r.warnings.map((w) => el('li', {}, w)));
      }
      const box = $('policies');
      box.replaceChildren();
      for (const p of r.policies) {
        const details = el('table', { class: 'data' },
          el('thead', {}, el('tr', {}, ['Result type', 'MX host', 'MX HELO', 'Receiving IP', 'Sending IP', 'Failed', 'Reason code', 'Additional information']
            .map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, p.failure_details.length ? p.failure_details.map((d) => el('tr', {},
            td(d.result_type), td(d.receiving_mx_hostname), td(d.receiving_mx_helo), td(d.receiving_ip), td(d.sending_mta_ip),
            numTd(d.failed_sessions), td(d.failure_reason_code, 'wrap'), td(d.additional_information, 'wrap')))
            : el('tr', {}, el('td', { colspan: 8, class: 'empty' }, 'No failure details.'))));
        box.append(el('section', { class: 'policy' },
          el('h3', {}, `${p.policy_type} policy for `, el('a', { href: '/domains/' + encodeURIComponent(p.policy_domain) }, p.policy_domain)),
          el('p', {}, `${num(p.successful_sessions)} successful and ${num(p.failed_sessions)} failed sessions`,
            p.mx_host.length ? `; mx-host ${p.mx_host.join(', ')}` : ''),
          p.policy_string.length ? el('pre', {}, p.policy_string.join('\n')) : null,
          el('div', { class: 'scroll' }, details)));
      }
      const inp = r.input;
      const au = inp.authentication;
      let auth = 'not authenticated: ' + au.reason;
      if (au.authenticated) auth = `authenticated: DKIM ${au.dkim}, signed by ${au.domain}`;
      else if (inp.source === 'https') auth = 'by HTTPS (counted as authenticated)';
      else if (au.dkim) auth = `not authenticated: DKIM ${au.dkim}: ${au.reason}`;
      facts($('facts'), [
        ['Organisation', r.organization_name], ['Report id', r.report_id], ['Contact', r.contact_info || '(none)'],
        ['Period', [when(r.start), ' to ', when(r.end)]],
        ['Authentication', el('span', { class: au.authenticated || inp.source === 'https' ? 'auth' : 'auth not', id: 'auth' }, auth)],
      ]);
      facts($('input'), [
        ['Input', String(inp.id)], ['Source', inp.source], ['Origin', inp.origin], ['Received', when(inp.received_at)],
        ['Size', num(inp.size) + ' bytes'], ['SHA-256', el('code', {}, inp.sha256)], ['Outcome', inp.outcome],
      ]);
      $('raw').href = `/api/v1/reports/${r.id}/raw`;
      loaded();
    } catch (e) {
      showError(e);
    }
  }

  // ---- Inputs ----
  function inputsPage() {
    const tbody = document.querySelector('#inputs tbody');
    const pageSize = 50;
    async function load() {
      const p = urlParams();
      const outcome = p.get('outcome') || '';
      const before = p.get('before') || '';
      $('outcome').value = outcome;
      try {
        const d = await api('inputs', { outcome, before, limit: pageSize });
        fill(tbody, d.inputs.map((i) => el('tr', {},
          numTd(i.id), td(when(i.received_at)), td(i.source), td(i.origin, 'wrap'), numTd(i.size), td(i.outcome),
          td(i.error + (i.authentication.dkim ? ` (DKIM ${i.authentication.dkim})` : ''), 'wrap'), td(el('a', { href: `/api/v1/inputs/${i.id}/raw`, download: true }, 'download')))), 8,
        outcome ? 'No input with this outcome.' : 'Nothing refused: every input held a report that was stored.');
        const nav = $('pager');
        nav.replaceChildren();
        if (before) nav.append(el('a', { href: location.pathname + (outcome ? '?outcome=' + outcome : '') }, 'Newest'));
        if (d.inputs.length === pageSize) {
          const q = new URLSearchParams();
          if (outcome) q.set('outcome', outcome);
          q.set('before', d.inputs[d.inputs.length - 1].id);
          nav.append(el('a', { href: '?' + q }, 'Older'));
        }
        loaded();
      } catch (e) {
        showError(e);
      }
    }
    $('outcome').addEventListener('change', () => {
      const q = new URLSearchParams();
      if ($('outcome').value) q.set('outcome', $('outcome').value);
      setURL(q, true);
      load();
    });
    window.addEventListener('popstate', load);
    load();
    poll(load);
  }

  ({ domains: domainsPage, domain: domainPage, report: reportPage, inputs: inputsPage })[page]?.();
})();
