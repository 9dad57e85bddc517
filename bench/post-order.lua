-- wrk script: places an order for one unit of $PRODUCT_ID as the user in $TOKEN.
wrk.method = "POST"
wrk.body = '{"items":[{"product_id":"' .. os.getenv("PRODUCT_ID") .. '","quantity":1}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
