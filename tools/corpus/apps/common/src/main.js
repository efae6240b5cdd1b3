import "./style.css";
import heroUrl from "./hero.png";
import { greet } from "./greet.js";

document.querySelector("#app").textContent = greet("corpus");
document.querySelector("#hero").src = heroUrl;

// One lazily loaded chunk per page.
const pages = {
  alpha: () => import("./pages/page01.js"),
  bravo: () => import("./pages/page02.js"),
  charlie: () => import("./pages/page03.js"),
  delta: () => import("./pages/page04.js"),
  echo: () => import("./pages/page05.js"),
  foxtrot: () => import("./pages/page06.js"),
  golf: () => import("./pages/page07.js"),
  hotel: () => import("./pages/page08.js"),
  india: () => import("./pages/page09.js"),
  juliett: () => import("./pages/page10.js"),
  kilo: () => import("./pages/page11.js"),
  lima: () => import("./pages/page12.js"),
  mike: () => import("./pages/page13.js"),
  november: () => import("./pages/page14.js"),
  oscar: () => import("./pages/page15.js"),
  papa: () => import("./pages/page16.js"),
  quebec: () => import("./pages/page17.js"),
  romeo: () => import("./pages/page18.js"),
  sierra: () => import("./pages/page19.js"),
  tango: () => import("./pages/page20.js"),
  uniform: () => import("./pages/page21.js"),
  victor: () => import("./pages/page22.js"),
  whiskey: () => import("./pages/page23.js"),
  xray: () => import("./pages/page24.js"),
};

document.querySelector("#more").addEventListener("click", async () => {
  const { renderChart } = await import("./lazy.js");
  renderChart(document.querySelector("#app"));
});

for (const [name, load] of Object.entries(pages)) {
  const link = document.createElement("a");
  link.textContent = name;
  link.addEventListener("click", async () => (await load()).default(document.querySelector("#app")));
  document.body.append(link);
}
