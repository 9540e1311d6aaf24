package screening

// Kind is the payload kind every thermometer family publishes.
const Kind = "temperature"

// Temperature is one published thermometer reading (temperature.schema.json).
//
// Fever and fault are states the driver keeps; Events names the state
// changes this very reading carries ("fever_onset", "fever_cleared",
// "fault", "fault_cleared"). Exactly one reading carries each change, so a
// hub rule matching an event fires once per fever, not once per sample,
// without the hub keeping any state of its own.
type Temperature struct {
	Sensor string `json:"sensor"` // which sensor of the device (slave name, "temper")
	Model  string `json:"model"`  // profile or family
	// Celsius is the screened temperature (compensated). It is present only
	// when the reading can be trusted; a faulty reading carries Measured.
	Celsius    *float64 `json:"celsius,omitempty"`
	Measured   *float64 `json:"measured_celsius,omitempty"` // as the sensor reported it
	Housing    *float64 `json:"housing_celsius,omitempty"`  // sensor housing / ambient
	Humidity   *float64 `json:"humidity_percent,omitempty"`
	Emissivity *float64 `json:"emissivity,omitempty"`
	Status     []string `json:"status,omitempty"` // status bits set, by name
	Fever      bool     `json:"fever"`
	Threshold  *float64 `json:"fever_threshold,omitempty"` // absent when the sensor is not screened
	Fault      string   `json:"fault,omitempty"`           // stuck | out_of_range | status | timeout | exception | frame | no_sensor
	Detail     string   `json:"fault_detail,omitempty"`
	Events     []string `json:"events"`
	// Cause is why this reading was published: first, event, change
	// (beyond the deadband) or heartbeat.
	Cause string `json:"cause"`
}

func (Temperature) Kind() string { return Kind }

// Event names carried in Temperature.Events.
const (
	EventFeverOnset   = "fever_onset"
	EventFeverCleared = "fever_cleared"
	EventFault        = "fault"
	EventFaultCleared = "fault_cleared"
)
