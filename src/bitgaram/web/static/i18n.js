// Korean / English strings of the dashboard. The choice is kept in localStorage.
(function () {
  "use strict";
  const STRINGS = {
    ko: {
      "title.sub": "산업단지 에너지 플랫폼",
      "login.user": "사용자",
      "login.password": "비밀번호",
      "login.submit": "로그인",
      "login.error": "사용자 이름 또는 비밀번호가 틀렸습니다.",
      "nav.park": "단지 현황",
      "nav.tenants": "입주기업",
      "nav.logout": "로그아웃",
      "park.title": "단지 현황",
      "park.demand": "최근 15분 수요",
      "park.target": "목표",
      "park.soc": "ESS 충전상태",
      "park.pv": "태양광 발전",
      "park.power": "전력 (kW)",
      "park.soc_chart": "ESS 충전상태 (%)",
      "schedule.title": "ESS 운전 계획 (kW, + 충전 / − 방전)",
      "park.tenants": "입주기업별 사용량 (kWh)",
      "tenant.energy": "사용량",
      "tenant.peak": "최대 수요",
      "tenant.pv": "자가 태양광",
      "tenant.mape": "예측 오차 (MAPE)",
      "tenant.power": "부하와 예측 (kW)",
      "tenant.benchmark": "동종 기업 대비 위치 (백분위)",
      "tenant.bill": "월 전기요금",
      "alerts.title": "알림",
      "alerts.none": "알림 없음",
      "alerts.demand_over_target": "목표 초과 수요",
      "alerts.data_gap": "데이터 누락",
      "alerts.quarantine": "격리된 측정값",
      "tenant.re100": "RE100 진행",
      "re100.share": "재생에너지 비율",
      "re100.target": "목표",
      "re100.pace": "필요 연간 증가",
      "bench.group.sector": "같은 업종",
      "bench.group.park": "단지 전체",
      "bench.hidden": "비교 그룹이 너무 작아 표시하지 않습니다",
      "bench.better.lower": "낮을수록 좋음",
      "bench.better.higher": "높을수록 좋음",
      "ind.energy_intensity": "에너지 원단위",
      "ind.load_factor": "부하율",
      "ind.re_share": "재생에너지 비율",
      "ind.peak": "최대 수요",
      "series.net": "순부하",
      "series.load": "부하",
      "series.pv": "태양광",
      "series.battery": "ESS",
      "series.forecast": "예측",
      "series.soc": "충전상태",
      "msg.nodata": "데이터가 없습니다",
      "msg.loading": "불러오는 중…",
      "lang.other": "English",
    },
    en: {
      "title.sub": "Industrial park energy platform",
      "login.user": "User",
      "login.password": "Password",
      "login.submit": "Log in",
      "login.error": "Wrong user name or password.",
      "nav.park": "Park overview",
      "nav.tenants": "Tenants",
      "nav.logout": "Log out",
      "park.title": "Park overview",
      "park.demand": "Latest 15-min demand",
      "park.target": "target",
      "park.soc": "ESS state of charge",
      "park.pv": "PV generation",
      "park.power": "Power (kW)",
      "park.soc_chart": "ESS state of charge (%)",
      "schedule.title": "Battery schedule (kW, + charge / − discharge)",
      "park.tenants": "Consumption by tenant (kWh)",
      "tenant.energy": "Consumption",
      "tenant.peak": "Peak demand",
      "tenant.pv": "Own PV",
      "tenant.mape": "Forecast error (MAPE)",
      "tenant.power": "Load and forecast (kW)",
      "tenant.benchmark": "Standing among peers (percentile)",
      "tenant.bill": "Monthly bill",
      "alerts.title": "Alerts",
      "alerts.none": "No alerts",
      "alerts.demand_over_target": "Demand over target",
      "alerts.data_gap": "Data gap",
      "alerts.quarantine": "Quarantined readings",
      "tenant.re100": "RE100 progress",
      "re100.share": "Renewable share",
      "re100.target": "target",
      "re100.pace": "needed per year",
      "bench.group.sector": "same sector",
      "bench.group.park": "whole park",
      "bench.hidden": "group too small to show",
      "bench.better.lower": "lower is better",
      "bench.better.higher": "higher is better",
      "ind.energy_intensity": "Energy intensity",
      "ind.load_factor": "Load factor",
      "ind.re_share": "Renewable share",
      "ind.peak": "Peak demand",
      "series.net": "Net load",
      "series.load": "Load",
      "series.pv": "PV",
      "series.battery": "ESS",
      "series.forecast": "Forecast",
      "series.soc": "SoC",
      "msg.nodata": "No data",
      "msg.loading": "Loading…",
      "lang.other": "한국어",
    },
  };
  function lang() {
    const stored = window.localStorage.getItem("bitgaram.lang");
    return stored === "en" || stored === "ko" ? stored : "ko";
  }
  function t(key) {
    const table = STRINGS[lang()];
    return key in table ? table[key] : key;
  }
  function apply(root) {
    (root || document).querySelectorAll("[data-i18n]").forEach(function (el) {
      el.textContent = t(el.getAttribute("data-i18n"));
    });
    document.documentElement.lang = lang();
    const sw = document.getElementById("lang-switch");
    if (sw) {
      sw.textContent = t("lang.other");
      sw.onclick = function () {
        window.localStorage.setItem("bitgaram.lang", lang() === "ko" ? "en" : "ko");
        apply();
        window.dispatchEvent(new Event("bitgaram:lang"));
      };
    }
  }
  window.Bitgaram = window.Bitgaram || {};
  window.Bitgaram.i18n = { t: t, apply: apply, lang: lang };
})();
