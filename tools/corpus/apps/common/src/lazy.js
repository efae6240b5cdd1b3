import { greet } from "./greet.js";

export function renderChart(el) {
  const bars = [3, 1, 4, 1, 5, 9, 2, 6];
  el.textContent = greet("lazy") + " " + bars.map((n) => "#".repeat(n)).join(" ");
}
