import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "11";
  el.textContent = greet("kilo") + " (11 of 24)";
}
