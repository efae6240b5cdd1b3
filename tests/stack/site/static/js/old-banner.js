console.log("summer sale banner");
